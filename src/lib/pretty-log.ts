import { Writable } from 'node:stream'

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
/** Fields the line itself shows, or that say nothing on a terminal. */
const SHOWN = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname'])

/**
 * LOG_FORMAT=pretty: the same records as the JSON logs, one readable line each for a terminal:
 * `2026-12-01T10:00:00.000Z INFO  request status=200 model=... durationMs=12`. A line that is not
 * JSON (there should be none) is passed through as it is.
 */
export function prettyLog(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') out.write(`${formatLine(line)}\n`)
      }
      done()
    },
  })
}

export function formatLine(line: string): string {
  let record: Record<string, unknown>
  try {
    record = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line
  }
  const time = typeof record['time'] === 'string' ? record['time'] : new Date(Number(record['time'])).toISOString()
  const level = (LEVELS[Number(record['level'])] ?? String(record['level'])).padEnd(5)
  const fields = Object.entries(record)
    .filter(([key, value]) => !SHOWN.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`)
  return [time, level, typeof record['msg'] === 'string' ? record['msg'] : JSON.stringify(record['msg'] ?? ''), ...fields].join(' ')
}
