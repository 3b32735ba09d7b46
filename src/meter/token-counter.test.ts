import { afterAll, describe, expect, it } from 'vitest'
import { pieceEnd, rawPiece, TokenCounter } from './token-counter.js'
import { SPACE, toPieces } from './pieces.js'
import { countTextTokens, countTextTokensWhole } from './text-tokens.js'

const counter = new TokenCounter()
afterAll(() => counter.close())

describe('pieceEnd and rawPiece', () => {
  it('cut exactly where toPieces cuts, one piece at a time', () => {
    for (const text of [' ', 'a', ' a', 'a ', 'a  big cat', '  leading', 'x\u2581y z', 'tab\tand\nnew line  ', '日本 語']) {
      for (const precedingSpace of [true, false]) {
        const cut: string[] = []
        for (let start = 0; start < text.length;) {
          const end = pieceEnd(text, start)
          cut.push(rawPiece(text, start, end, precedingSpace).replaceAll(' ', SPACE))
          start = end
        }
        expect(cut, JSON.stringify({ text, precedingSpace })).toEqual(toPieces(text, precedingSpace))
      }
    }
  })
})

describe('TokenCounter', () => {
  it('counts exactly as the library on texts mixing spaces and literal ▁, whichever spelling the memo saw first', async () => {
    // Raw pieces (" a") and ▁ pieces ("▁a") share one memo: both spellings of each word are counted,
    // in both orders, with and without the dummy prefix, and compared with the whole-text encode.
    const words = ['a', 'big', 'cat', 'x9x9', '日本', '🦙', '\u2581', '\u2581\u2581dog', 'USER:', '<image>', '12345']
    const gaps = [' ', '  ', '\u2581', '\u2581 ', ' \u2581', '\n', '']
    let seed = 7
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)] as T
    for (let n = 0; n < 2_000; n++) {
      let text = ''
      for (let w = Math.floor(random() * 12); w >= 0; w--) text += pick(gaps) + pick(words)
      const opts = { bos: random() < 0.5, precedingSpace: random() < 0.5 }
      expect(await counter.count(text, opts), JSON.stringify({ text, opts })).toBe(countTextTokensWhole(text, opts))
    }
  }, 60_000)

  it('gives the same counts as the synchronous count and the library, long pieces included', async () => {
    const long = 'x9'.repeat(2_000) // one 4,000-character piece: counted on the worker thread
    const texts = [
      '',
      'Hello world!',
      `  ${long} and then ${long.slice(0, 300)}!`,
      'USER: \nWhat is in this image? ASSISTANT:',
      '😀 '.repeat(500),
    ]
    for (const text of texts) {
      for (const opts of [{}, { bos: false }, { bos: false, precedingSpace: false }]) {
        const expected = countTextTokensWhole(text, opts)
        expect(await counter.count(text, opts), JSON.stringify({ text: text.slice(0, 40), opts })).toBe(expected)
        expect(countTextTokens(text, opts)).toBe(expected)
      }
    }
  })

  it('gives the event loop back while it counts a long text, and still counts it exactly', async () => {
    // 30,000 distinct words, never counted before, so none is remembered.
    const words = Array.from({ length: 30_000 }, (_, i) => `v${i.toString(36)}`)
    const text = words.join(' ')
    // The library's own encode, without the memo, a few hundred words at a time (pieces add up: see pieces.ts).
    let expected = 0
    for (let i = 0; i < words.length; i += 500) {
      expected += countTextTokensWhole((i === 0 ? '' : ' ') + words.slice(i, i + 500).join(' '), { bos: false, precedingSpace: false })
    }
    // Turns of the event loop that ran while it counted: other requests' work would run in them.
    let turns = 0
    let running = true
    const tick = () => {
      turns++
      if (running) setImmediate(tick)
    }
    setImmediate(tick)
    const count = await counter.count(text, { bos: false, precedingSpace: false })
    running = false
    expect(count).toBe(expected)
    expect(turns).toBeGreaterThan(2) // one turn for all of it would be a few hundred ms of everyone waiting
  }, 30_000)
})

describe('TokenCounter with a dead worker', () => {
  it('counts a long piece as its UTF-8 length, an upper bound on its tokens, instead of failing', async () => {
    const dead = { count: () => Promise.reject(new Error('the tokenizer worker exited')), close: async () => undefined }
    const long = 'é9'.repeat(200) // one 400-character piece, 600 bytes: sent to the worker
    const exact = countTextTokensWhole(long, { bos: false, precedingSpace: false })
    const counted = await new TokenCounter(dead).count(`${long} short`, { bos: false, precedingSpace: false })
    expect(counted).toBe(Buffer.byteLength(long) + countTextTokensWhole(' short', { bos: false, precedingSpace: false }))
    expect(counted).toBeGreaterThan(exact)
  })
})
