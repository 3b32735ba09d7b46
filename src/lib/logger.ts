import { pino, type DestinationStream, type Logger } from 'pino'

/** Keys that name a secret: blanked wherever they stand (see createLogger). */
export const SECRET_KEYS: readonly string[] = ['authorization', 'apiKey', 'secret']

export const CENSOR = '[redacted]'

/** Loggers made by createLogger: no formatter, mixin, hook or serializer changes what they write. */
const plainLoggers = new WeakSet<Logger>()

/** Whether `log` came from createLogger as it is: its lines are pino's plain JSON (see flat-line-log.ts). */
export const isPlainLogger = (log: Logger): boolean => plainLoggers.has(log)

/**
 * Structured JSON logs. Redaction is a second line of defence: no code logs a header or a
 * secret on purpose, and these paths are blanked in case one ever slips into a log object.
 * `now` is the clock of each line's time (tests fix it).
 */
export function createLogger(level: string, destination?: DestinationStream, now: () => number = Date.now): Logger {
  const log = pino(
    {
      level,
      base: { service: 'llava-gateway' },
      timestamp: isoTime(now),
      redact: {
        paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`), 'headers.authorization', '*.headers.authorization'],
        censor: CENSOR,
      },
    },
    destination,
  )
  plainLoggers.add(log)
  return log
}

/**
 * pino's isoTime, formatted once per millisecond: ISO 8601 in UTC, readable by people and by every
 * log pipeline, unlike epoch milliseconds. Under load several lines share each millisecond, and
 * formatting a date costs more than the rest of the time field.
 */
export function isoTime(now: () => number = Date.now): () => string {
  let lastMs = Number.NaN
  let field = ''
  return () => {
    const ms = now()
    if (ms !== lastMs) {
      lastMs = ms
      field = `,"time":"${new Date(ms).toISOString()}"`
    }
    return field
  }
}
