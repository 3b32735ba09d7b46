import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino'

/**
 * Structured JSON logs. Redaction is a second line of defence: no code logs a header or a
 * secret on purpose, and these paths are blanked in case one ever slips into a log object.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'llava-gateway' },
      // ISO 8601 in UTC: readable by people and by every log pipeline, unlike epoch milliseconds.
      timestamp: stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'authorization',
          '*.authorization',
          'headers.authorization',
          '*.headers.authorization',
          'apiKey',
          '*.apiKey',
          'secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  )
}
