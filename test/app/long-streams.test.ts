import { afterEach, describe, expect, it, vi } from 'vitest'
import { completionChunks } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { ScriptedUpstream, sseBody } from '../helpers/scripted-upstream.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'

// A long stream from a backend that reports no usage: the gateway counts the completion tokens
// itself, with the Llama tokenizer, on the event loop. Here the tokenizer is watched: how many
// characters it is handed within one turn of the event loop (the time every other request waits).
// Past a few KiB it stands in with a quarter-token per character, so the test itself stays quick;
// the real one takes ~10 µs a character here, so 1 MiB at once stops the gateway for ~10 s (4 MiB,
// relayed before a paused client left in test/e2e/backpressure.test.ts, took 52 s).

const watch = vi.hoisted(() => ({ turn: 0, perTurn: new Map<number, number>() }))
vi.mock('llama-tokenizer-js', async (importOriginal) => {
  const real = (await importOriginal<typeof import('llama-tokenizer-js')>()).default
  return {
    default: {
      encode(text: string, bos?: boolean, precedingSpace?: boolean): number[] {
        watch.perTurn.set(watch.turn, (watch.perTurn.get(watch.turn) ?? 0) + text.length)
        return text.length > 4096 ? new Array<number>(Math.ceil(text.length / 4)).fill(0) : real.encode(text, bos, precedingSpace)
      },
    },
  }
})

/** Counts turns of the event loop while the test runs: one setImmediate per turn. */
function countTurns(): () => void {
  let timer = setImmediate(function next() {
    watch.turn++
    timer = setImmediate(next)
  })
  return () => clearImmediate(timer)
}
let stopCounting: (() => void) | undefined
afterEach(() => stopCounting?.())

const KiB = 1024
const PIECE = 'word '.repeat((16 * KiB) / 5) // 16 KiB of content, as prose
const PIECES = 64 // 1 MiB in all

/** A backend streaming PIECES content chunks, each in a turn of its own as from a socket, and no usage. */
function longStreamApp() {
  const upstream = new ScriptedUpstream().answer(
    'main',
    sseBody(async function* () {
      for (const chunk of completionChunks(Array.from({ length: PIECES }, () => PIECE))) {
        await new Promise((resolve) => setImmediate(resolve))
        yield `data: ${JSON.stringify(chunk)}\n\n`
      }
      yield 'data: [DONE]\n\n'
    }),
  )
  return buildTestApp(testConfig('http://127.0.0.1:9/v1'), { upstreamClient: upstream })
}

describe('metering a long stream without usage', () => {
  it('relays it whole and counts every character of its content', async () => {
    const { app, deps } = longStreamApp()
    const res = await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), stream: true }))
    expect((await res.text()).split(PIECE)).toHaveLength(PIECES + 1)
    expect(await counterSum(deps.metrics.completionTokens, { model: MODEL, source: 'gateway' })).toBe((PIECES * PIECE.length) / 4)
  })

  // KNOWN BUG (reported, not fixed here): the relay hands the tokenizer the whole text in one
  // synchronous call when the stream ends (src/upstream/stream-answer.ts onEnd → settleUsage →
  // countCompletionTokens), so the event loop stops for as long as that takes: every other
  // request, health checks included, waits, and a client that left has its backend call dropped
  // only afterwards. `it.fails` keeps the suite green while the bug stands; drop `.fails` once fixed.
  it.fails('never hands the tokenizer more than 64 KiB of text within one turn of the event loop', async () => {
    const { app } = longStreamApp()
    stopCounting = countTurns()
    const res = await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), stream: true }))
    await res.text()
    expect(Math.max(...watch.perTurn.values())).toBeLessThanOrEqual(64 * KiB)
  })
})
