import { Writable } from 'node:stream'
import type { Logger } from 'pino'
import { createLogger } from '../../src/lib/logger.js'

/**
 * A logger at `level` whose lines are kept: `lines` parsed, one object per line, and `raw` as
 * written (for tests that search the text itself, a secret say).
 */
export function capturedLog(level = 'info'): { log: Logger; lines: Array<Record<string, unknown>>; raw: string[] } {
  const lines: Array<Record<string, unknown>> = []
  const raw: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString())
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  return { log: createLogger(level, destination), lines, raw }
}
