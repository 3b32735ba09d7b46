import { spawnSync } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BATCH_MAX_CHARS, BATCH_WINDOW_MS, LineBatch, type LineSink } from './line-batch.js'

/** A sink that records each write, flush and flushSync, in order. */
function recordingSink() {
  const calls: string[] = []
  const sink: LineSink = {
    write: (text) => calls.push(`write ${text}`),
    flush: (cb) => {
      calls.push('flush')
      cb()
    },
    flushSync: () => calls.push('flushSync'),
  }
  return { sink, calls }
}

describe('LineBatch', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('hands the lines written within its window to the sink as one write, in order, when the window ends', () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink)
    batch.write('a\n')
    vi.advanceTimersByTime(BATCH_WINDOW_MS - 1)
    batch.write('b\n')
    batch.write('c\n')
    expect(calls).toEqual([])
    vi.advanceTimersByTime(1)
    expect(calls).toEqual(['write a\nb\nc\n'])
  })

  it("writes a later window's lines apart, and nothing for a window without any", () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink, 5)
    batch.write('a\n')
    vi.advanceTimersByTime(5)
    vi.advanceTimersByTime(50)
    batch.write('b\n')
    vi.advanceTimersByTime(4)
    expect(calls).toEqual(['write a\n'])
    vi.advanceTimersByTime(1)
    expect(calls).toEqual(['write a\n', 'write b\n'])
  })

  it('hands a batch over at the end of the turn that fills it, without waiting out the window', () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink)
    const line = `${'x'.repeat(1023)}\n`
    for (let i = 0; i < BATCH_MAX_CHARS / line.length - 1; i++) batch.write(line)
    vi.advanceTimersByTime(0)
    expect(calls).toEqual([]) // one line short: it waits
    batch.write(line) // full: it goes at this turn's end
    expect(calls).toEqual([])
    vi.advanceTimersByTime(0)
    expect(calls).toEqual([`write ${line.repeat(BATCH_MAX_CHARS / line.length)}`])
    // Nothing is left for the window's end, and the next line opens a window of its own.
    vi.advanceTimersByTime(BATCH_WINDOW_MS)
    batch.write('next\n')
    vi.advanceTimersByTime(BATCH_WINDOW_MS - 1)
    expect(calls).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(calls.at(-1)).toBe('write next\n')
  })

  it('hands the waiting lines over before the sink flushes, and tells the caller when it has', async () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink)
    batch.write('a\n')
    await new Promise<void>((resolve) => batch.flush(() => resolve()))
    batch.write('b\n')
    batch.flushSync()
    expect(calls).toEqual(['write a\n', 'flush', 'write b\n', 'flushSync'])
    vi.advanceTimersByTime(BATCH_WINDOW_MS)
    expect(calls).toHaveLength(4) // nothing left for the window's end
  })

  it('writes the lines still waiting when the process exits at once', () => {
    const script = [
      "import { pino } from 'pino'",
      "import { flushedAtExit, LineBatch } from './src/lib/line-batch.ts'",
      'const batch = flushedAtExit(new LineBatch(pino.destination({ sync: false })))',
      "batch.write('first\\n'); batch.write('last\\n')",
      'process.exit(3)',
    ].join('\n')
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(child.stderr).toBe('')
    expect(child.status).toBe(3)
    expect(child.stdout).toBe('first\nlast\n')
  })

  it('never keeps the process alive for a waiting line, and writes it as the process ends', () => {
    // A window of a minute: a timer that held the process would keep it past spawnSync's timeout.
    const script = [
      "import { pino } from 'pino'",
      "import { flushedAtExit, LineBatch } from './src/lib/line-batch.ts'",
      'const batch = flushedAtExit(new LineBatch(pino.destination({ sync: false }), 60_000))',
      "batch.write('only\\n')",
    ].join('\n')
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(child.stderr).toBe('')
    expect(child.status).toBe(0)
    expect(child.stdout).toBe('only\n')
  })
})
