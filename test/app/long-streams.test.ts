import { afterEach, describe, expect, it, vi } from 'vitest'
import { completionChunks } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { ScriptedUpstream, sseBody } from '../helpers/scripted-upstream.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'
import { countCompletionTokens } from '../../src/meter/completion-tokens.js'

// A long stream from a backend that reports no usage: the gateway counts the completion tokens
// itself, with the Llama tokenizer. Here the tokenizer is watched: how many characters it is
// handed within one turn of the event loop (the time every other request waits). Past a few KiB a
// single encode stands in with a quarter-token per character, so the test itself stays quick; the
// real one takes ~10 µs a character, so 1 MiB in one turn would stop the gateway for ~10 s (it did,
// before TokenCounter: 4 MiB relayed to a paused client that then left blocked it for 52 s).

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
const PIECES = 16
// 16 KiB of content per chunk, as prose of words never seen before (nothing is remembered between
// counts), 256 KiB in all. No digits: a number is counted digit by digit, without the tokenizer.
const PIECE_OF = (n: number) =>
  Array.from({ length: (16 * KiB) / 8 }, (_, i) => `p${noDigits(n)}w${noDigits(i.toString(36).padStart(3, '0'))} `).join('')
/** Digits written as capitals, which base 36 does not use: still distinct, and no digit left. */
const noDigits = (s: string | number) => String(s).replace(/[0-9]/g, (d) => String.fromCharCode(65 + Number(d)))
/** Each test streams words of its own: a word counted once is remembered, and not handed to the tokenizer again. */
const textsFor = (test: number) => Array.from({ length: PIECES }, (_, n) => PIECE_OF(test * PIECES + n))

/** A backend streaming PIECES content chunks, each in a turn of its own as from a socket, and no usage. */
function longStreamApp(texts: readonly string[]) {
  const upstream = new ScriptedUpstream().answer(
    'main',
    sseBody(async function* () {
      for (const chunk of completionChunks(texts)) {
        await new Promise((resolve) => setImmediate(resolve))
        yield `data: ${JSON.stringify(chunk)}\n\n`
      }
      yield 'data: [DONE]\n\n'
    }),
  )
  return buildTestApp(testConfig('http://127.0.0.1:9/v1'), { upstreamClient: upstream })
}

describe('metering a long stream without usage', { timeout: 30_000 }, () => {
  it('relays it whole and counts every character of its content', async () => {
    const texts = textsFor(1)
    const { app, deps } = longStreamApp(texts)
    const res = await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), stream: true }))
    const text = await res.text()
    for (const piece of texts) expect(text).toContain(piece)
    await until(async () => (await counterSum(deps.metrics.completionTokens, { model: MODEL, source: 'gateway' })) > 0, {
      timeoutMs: 10_000,
      what: 'the stream to be metered',
    })
    expect(await counterSum(deps.metrics.completionTokens, { model: MODEL, source: 'gateway' })).toBe(countCompletionTokens(texts.join('')))
  })

  // The relay used to hand the tokenizer the whole text in one synchronous call when the stream
  // ended, and every other request, health checks included, waited for it.
  it('never hands the tokenizer more than 64 KiB of text within one turn of the event loop', async () => {
    const { app, deps } = longStreamApp(textsFor(2))
    watch.perTurn.clear() // only this test's counting
    stopCounting = countTurns()
    const res = await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), stream: true }))
    await res.text()
    await until(async () => (await counterSum(deps.metrics.completionTokens, { model: MODEL, source: 'gateway' })) > 0, {
      timeoutMs: 20_000,
      what: 'the stream to be metered',
    })
    expect([...watch.perTurn.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(PIECES * 15 * KiB) // it was counted here
    expect(Math.max(...watch.perTurn.values())).toBeLessThanOrEqual(64 * KiB)
  })
})
