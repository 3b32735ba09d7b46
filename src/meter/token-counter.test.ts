import llamaTokenizer from 'llama-tokenizer-js'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { TokenCounter } from './token-counter.js'
import { pieceEnd } from './sentences.js'
import { SPACE, toPieces } from './pieces.js'
import { countTextTokens, countTextTokensWhole } from './text-tokens.js'

const counter = new TokenCounter()
afterAll(() => counter.close())

describe('pieceEnd', () => {
  it('cuts exactly where toPieces cuts, one piece at a time, the dummy prefix written in or not', () => {
    for (const text of [' ', 'a', ' a', 'a ', 'a  big cat', '  leading', 'x\u2581y z', 'tab\tand\nnew line  ', '日本 語']) {
      for (const precedingSpace of [true, false]) {
        const full = precedingSpace ? SPACE + text : text
        const cut: string[] = []
        for (let start = 0; start < full.length;) {
          const end = pieceEnd(full, start)
          cut.push(full.slice(start, end).replaceAll(' ', SPACE))
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

describe('TokenCounter: sentences', () => {
  it('matches the library’s whole-text encode on 10,000 texts of sentences, recurring and new, short and long', async () => {
    // Sentences from a small pool recur across texts (remembered, and met again at the start, with
    // the dummy prefix, and elsewhere without), mixed with new ones and with runs too long to be a
    // sentence (counted piece by piece). Every mark that ends a sentence, and some that do not.
    let seed = 20261202
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
    const words = [
      'the',
      'llama',
      'What',
      'is',
      'in',
      'this',
      'image',
      '3.14',
      'naïve',
      '日本語',
      '🦙',
      '\u2581',
      'USER:',
      "don't",
      'x9'.repeat(20),
      '12345',
    ]
    const ends = ['.', '!', '?', '\n', '...', ',', ':', '.\n', '']
    const gaps = [' ', ' ', '  ', '\u2581', ' \n ', '\t']
    const sentence = () => {
      let text = ''
      for (let w = 1 + Math.floor(random() * 14); w > 0; w--) text += pick(words) + (w > 1 ? pick(gaps) : '')
      return text + pick(ends)
    }
    const pool = Array.from({ length: 40 }, sentence)
    const long = () => Array.from({ length: 60 }, () => pick(words)).join(' ') // about 300 characters, no sentence end
    for (let n = 0; n < 10_000; n++) {
      let text = random() < 0.2 ? pick(gaps) : ''
      for (let k = Math.floor(random() * 8); k >= 0; k--) {
        const r = random()
        text += (r < 0.6 ? pick(pool) : r < 0.9 ? sentence() : long()) + pick(gaps)
      }
      if (random() < 0.3) text = text.trimEnd()
      const opts = { bos: random() < 0.5, precedingSpace: random() < 0.5 }
      expect(await counter.count(text, opts), JSON.stringify({ text, opts })).toBe(countTextTokensWhole(text, opts))
    }
  }, 180_000) // ten thousand whole-text encodes: seconds, more on a loaded machine

  it('remembers sentences of up to 256 characters, and counts longer ones piece by piece each time', async () => {
    // A word longer than the piece memo keeps (64 characters) is encoded each time it is counted,
    // unless the sentence holding it is remembered.
    const word = 'w'.repeat(70)
    const sentenceOf = (chars: number) => `${word} ${'a'.repeat(chars - word.length - 3)}.` // `chars` long with the space before it
    const encode = vi.spyOn(llamaTokenizer, 'encode')
    try {
      for (const [chars, remembered] of [
        [256, true],
        [257, false],
      ] as const) {
        const text = `Intro. ${sentenceOf(chars)} Outro.`
        const expected = countTextTokensWhole(text)
        expect(await counter.count(text)).toBe(expected)
        encode.mockClear()
        expect(await counter.count(text)).toBe(expected)
        expect(encode.mock.calls.length, `${chars} characters`).toBe(remembered ? 0 : 1)
      }
    } finally {
      encode.mockRestore()
    }
  })

  it('gives the event loop back while it counts a long text of new sentences', async () => {
    const text = Array.from({ length: 3_000 }, (_, i) => `Sentence ${i.toString(36)} of ten words, none of them seen before.`).join(' ')
    let turns = 0
    let running = true
    const tick = () => {
      turns++
      if (running) setImmediate(tick)
    }
    setImmediate(tick)
    const count = await counter.count(text, { bos: false, precedingSpace: false })
    running = false
    expect(count).toBe(countTextTokensWhole(text, { bos: false, precedingSpace: false }))
    expect(turns).toBeGreaterThan(2)
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
