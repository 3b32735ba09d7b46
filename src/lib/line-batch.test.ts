import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { LineBatch, type LineSink } from './line-batch.js'

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

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

describe('LineBatch', () => {
  it("hands a turn's lines to the sink as one write, in order, at the turn's end", async () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink)
    batch.write('a\n')
    batch.write('b\n')
    batch.write('c\n')
    expect(calls).toEqual([])
    await nextTurn()
    expect(calls).toEqual(['write a\nb\nc\n'])
  })

  it("writes each later turn's lines apart, and nothing for a turn without any", async () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink)
    batch.write('a\n')
    await nextTurn()
    await nextTurn()
    batch.write('b\n')
    await nextTurn()
    expect(calls).toEqual(['write a\n', 'write b\n'])
  })

  it('hands the waiting lines over before the sink flushes, and tells the caller when it has', async () => {
    const { sink, calls } = recordingSink()
    const batch = new LineBatch(sink)
    batch.write('a\n')
    await new Promise<void>((resolve) => batch.flush(() => resolve()))
    batch.write('b\n')
    batch.flushSync()
    expect(calls).toEqual(['write a\n', 'flush', 'write b\n', 'flushSync'])
    await nextTurn()
    expect(calls).toHaveLength(4) // nothing left for the turn's end
  })

  it('writes the lines of the last turn when the process exits at once', () => {
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
})
