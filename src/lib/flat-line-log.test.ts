import { pino, type Logger } from 'pino'
import { describe, expect, it } from 'vitest'
import { flatLineLog, type FlatLine } from './flat-line-log.js'
import { CENSOR, createLogger, SECRET_KEYS } from './logger.js'

const NOW = Date.UTC(2026, 11, 5, 8, 0, 0)

/** A logger as the gateway makes one, writing to `texts`, its clock fixed so that two lines compare byte for byte. */
const logTo = (texts: string[], level = 'info'): Logger =>
  createLogger(level, { write: (text: string) => void texts.push(text) }, () => NOW)

/** How many lines pino itself serialised for `log` (its key-by-key path, which flatLineLog skips). */
function pinoSerialisations(log: Logger): { count: number } {
  const counter = { count: 0 }
  const internals = log as unknown as Record<symbol, (...args: unknown[]) => string>
  const asJson = internals[pino.symbols.asJsonSym]!
  internals[pino.symbols.asJsonSym] = function (this: unknown, ...args: unknown[]) {
    counter.count++
    return asJson.apply(this, args)
  }
  return counter
}

const lines: FlatLine[] = [
  { requestId: 'r1', method: 'POST', path: '/v1/chat/completions', status: 200, durationMs: 3, key: 'team-a', promptTokens: 25 },
  { requestId: 'r2', status: 499, key: undefined, outcome: 'client_aborted', error: undefined },
  { reason: 'Backend "main" broke off its response (ECONNRESET).', path: '/a\\b/\tc\u0001' },
  { path: '/é/日本/😀', durationMs: 0, upstreamMs: -1.5 },
  {},
]

describe('flatLineLog', () => {
  it.each(lines.map((line) => [JSON.stringify(line), line] as const))('writes %s exactly as pino does, without pino', (_name, line) => {
    const fast: string[] = []
    const slow: string[] = []
    const log = logTo(fast)
    const serialised = pinoSerialisations(log)
    flatLineLog(log).info(line, 'request')
    logTo(slow).info(line, 'request')
    expect(fast).toEqual(slow)
    expect(serialised.count).toBe(0)
  })

  it('writes numbers JSON cannot hold as null, as pino does, and escapes what pino leaves raw', () => {
    const fast: string[] = []
    const slow: string[] = []
    const line = { durationMs: Number.NaN, upstreamMs: Number.POSITIVE_INFINITY, path: '/\u2028\ud800' }
    flatLineLog(logTo(fast)).info(line, 'request')
    logTo(slow).info(line, 'request')
    expect(JSON.parse(fast[0]!)).toEqual({ ...JSON.parse(slow[0]!), path: '/\u2028\ud800' })
    expect(fast[0]).toContain('"path":"/\u2028\\ud800"')
  })

  it('writes at the level asked, and nothing below the logger’s level', () => {
    const texts: string[] = []
    const log = flatLineLog(logTo(texts, 'info'))
    log.debug({ path: '/healthz' }, 'request')
    log.warn({ status: 502 }, 'request failed')
    log.info({ status: 200 }, 'request')
    expect(texts.map((text) => JSON.parse(text) as Record<string, unknown>)).toMatchObject([
      { level: 40, status: 502, msg: 'request failed' },
      { level: 30, status: 200, msg: 'request' },
    ])
    const debugging: string[] = []
    flatLineLog(logTo(debugging, 'debug')).debug({ path: '/healthz' }, 'request')
    expect(JSON.parse(debugging[0]!)).toMatchObject({ level: 20, path: '/healthz' })
  })

  it('follows the logger’s level as it changes', () => {
    const texts: string[] = []
    const log = logTo(texts, 'warn')
    const lines = flatLineLog(log)
    lines.info({ status: 200 }, 'request')
    log.level = 'info'
    lines.info({ status: 201 }, 'request')
    expect(texts.map((text) => (JSON.parse(text) as { status: number }).status)).toEqual([201])
  })

  it.each(SECRET_KEYS)('blanks a top-level %s through pino, should one ever be logged', (key) => {
    const texts: string[] = []
    flatLineLog(logTo(texts)).info({ [key]: 'Bearer sk-live', status: 200 }, 'request')
    expect(texts.join('')).not.toContain('sk-live')
    expect(JSON.parse(texts[0]!)).toMatchObject({ [key]: CENSOR, status: 200, msg: 'request' })
  })

  it('leaves a child’s lines to pino: its bindings and options are its own', () => {
    const fast: string[] = []
    const slow: string[] = []
    flatLineLog(logTo(fast).child({ replica: 'a' })).info({ status: 200 }, 'request')
    logTo(slow).child({ replica: 'a' }).info({ status: 200 }, 'request')
    expect(fast).toEqual(slow)
    expect(JSON.parse(fast[0]!)).toMatchObject({ service: 'llava-gateway', replica: 'a', status: 200 })
  })

  it('goes through pino for a destination that wants each line’s level (pino.multistream)', () => {
    const warnings: string[] = []
    const everything: string[] = []
    const log = createLogger(
      'info',
      pino.multistream([
        { level: 'warn', stream: { write: (text: string) => void warnings.push(text) } },
        { level: 'info', stream: { write: (text: string) => void everything.push(text) } },
      ]),
    )
    const lines = flatLineLog(log)
    lines.info({ status: 200 }, 'request')
    lines.warn({ status: 502 }, 'request failed')
    expect(warnings.map((text) => (JSON.parse(text) as { status: number }).status)).toEqual([502])
    expect(everything).toHaveLength(2)
  })
})
