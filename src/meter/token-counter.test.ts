import llamaTokenizer from 'llama-tokenizer-js'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { TokenCounter } from './token-counter.js'
import { seededRandom } from '../../test/helpers/seeded-random.js'
import { turnsWhile } from '../../test/helpers/turns.js'
import { countSentence } from './sentences.js'
import { pieceEnd, SPACE, toPieces } from './pieces.js'
import { countPiece, countTextTokens, countTextTokensWhole } from './text-tokens.js'

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
    const [count, turns] = await turnsWhile(() => counter.count(text, { bos: false, precedingSpace: false }))
    expect(count).toBe(expected)
    expect(turns).toBeGreaterThan(2) // one turn for all of it would be a few hundred ms of everyone waiting
  }, 30_000)
})

describe('TokenCounter: sentences', () => {
  it('matches the library’s whole-text encode on 10,000 texts of sentences, recurring and new, short and long', async () => {
    // Sentences from a small pool recur across texts (remembered, and met again at the start, with
    // the dummy prefix, and elsewhere without), mixed with new ones and with runs too long to be a
    // sentence (counted piece by piece). Every mark that ends a sentence, and some that do not.
    const { random, pick } = seededRandom(20261202)
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
    const [count, turns] = await turnsWhile(() => counter.count(text, { bos: false, precedingSpace: false }))
    expect(count).toBe(countTextTokensWhole(text, { bos: false, precedingSpace: false }))
    expect(turns).toBeGreaterThan(2)
  }, 30_000)
})

describe('TokenCounter: how a text is cut', () => {
  /** The units a text is counted in: S for a remembered sentence, P for a piece. */
  async function units(text: string): Promise<string[]> {
    const seen: string[] = []
    const counter = new TokenCounter({
      countSentence: (sentence) => (seen.push(`S${sentence}`), countSentence(sentence)),
      countPiece: (piece) => (seen.push(`P${piece}`), countPiece(piece)),
    })
    expect(await counter.count(text)).toBe(countTextTokensWhole(text))
    return seen
  }
  const run = (words: number) => Array.from({ length: words }, (_, i) => ` w${i % 10}`).join('') // no sentence ends in it

  it('takes each sentence whole; of one too long to remember, pieces until the rest is short enough', async () => {
    const long = run(100) // 300 characters
    const seen = await units(`Intro.${long} Mid. Two. tail`)
    const tail = seen.findIndex((unit, i) => i > 0 && unit.startsWith('S'))
    expect(seen[0]).toBe('S\u2581Intro.')
    expect(seen.slice(1, tail).every((unit) => unit.startsWith('P'))).toBe(true)
    expect(tail).toBeGreaterThan(1)
    // The rest of the long sentence, remembered: it ends at its own end, and is at most 256 characters.
    expect(seen[tail]!.endsWith(' Mid.')).toBe(true)
    expect(seen[tail]!.length - 1).toBeLessThanOrEqual(256)
    expect(seen[tail - 1]!.length - 1 + seen[tail]!.length - 1).toBeGreaterThan(256) // one piece earlier would not fit
    expect(
      seen
        .slice(1, tail + 1)
        .map((unit) => unit.slice(1))
        .join(''),
    ).toBe(`${long} Mid.`)
    expect(seen.slice(tail + 1)).toEqual(['S Two.', 'P tail'])
  })

  it('takes a sentence that ends at the first character, and the one after it', async () => {
    expect(await units('! Two. tail')).toEqual(['S\u2581!', 'S Two.', 'P tail'])
  })

  it('looks past a stretch without a sentence end only once it has counted up to where it looked', async () => {
    const long = run(1_400) // 4,200 characters: more than one search looks at
    const seen = await units(`Intro.${long} End. tail`)
    // The search from just after "Intro." saw no end within 4,096 characters: pieces until past
    // there, then a new search finds " End." and the sentence runs from that piece's end to it.
    const firstSentenceAfter = seen.findIndex((unit, i) => i > 0 && unit.startsWith('S'))
    const sentence = seen[firstSentenceAfter]!
    expect(sentence.endsWith(' End.')).toBe(true)
    const before = seen
      .slice(1, firstSentenceAfter)
      .map((unit) => unit.slice(1))
      .join('')
    expect(before.length + 'Intro.'.length).toBeGreaterThanOrEqual(4_096)
    expect(sentence.length - 1).toBeLessThan(256)
    expect(seen.at(-1)).toBe('P tail')
  })
})

describe('TokenCounter: pieces for the worker', () => {
  it('counts pieces of up to 256 characters itself and sends longer ones to the worker', async () => {
    const sent: string[] = []
    const worker = {
      count: async (piece: string) => (sent.push(piece), countTextTokensWhole(piece, { bos: false, precedingSpace: false })),
      close: async () => undefined,
    }
    const counter = new TokenCounter({ worker })
    for (const chars of [256, 257]) {
      const word = 'x9'.repeat(chars).slice(0, chars)
      expect(await counter.count(word, { bos: false, precedingSpace: false })).toBe(
        countTextTokensWhole(word, { bos: false, precedingSpace: false }),
      )
    }
    expect(sent.map((piece) => piece.length)).toEqual([257])
  })
})

describe('TokenCounter: slices of the event loop', () => {
  /** How many times counting `pieces` one-letter words gave the loop back, with the clock `now`. */
  async function yieldsWhileCounting(pieces: number, now: () => number): Promise<number> {
    const text = 'a '.repeat(pieces).trimEnd()
    const [count, turns] = await turnsWhile(() => new TokenCounter({ now }).count(text))
    expect(count).toBe(countTextTokensWhole(text))
    return turns
  }
  const clock = (start: number, step: number) => {
    let t = start - step
    return () => (t += step)
  }

  it('answers with a number, not a promise, when the text took one slice and no piece went to the worker', async () => {
    const text = 'a '.repeat(100).trimEnd()
    expect(new TokenCounter({ now: clock(0, 0) }).count(text)).toBe(countTextTokensWhole(text))
    const late = new TokenCounter({ now: clock(0, 3) }).count(text) // past its slice at the 64th piece
    expect(late).toBeInstanceOf(Promise)
    expect(await late).toBe(countTextTokensWhole(text))
    const long = `${'x9'.repeat(150)} a` // a 300-character piece: counted on the worker
    const offThread = counter.count(long)
    expect(offThread).toBeInstanceOf(Promise)
    expect(await offThread).toBe(countTextTokensWhole(long))
  })

  it('checks the clock every 64 pieces, and gives the loop back only once more than 2 ms have passed', async () => {
    expect(await yieldsWhileCounting(200, clock(0, 0))).toBe(0) // no time passes: never
    expect(await yieldsWhileCounting(100, clock(0, 3))).toBe(1) // 3 ms between readings: at the 64th piece
    expect(await yieldsWhileCounting(100, clock(0, 2))).toBe(0) // 2 ms is not more than 2 ms
    expect(await yieldsWhileCounting(100, clock(1_000, 1))).toBe(0) // the time since the slice began, not the clock's reading
    expect(await yieldsWhileCounting(200, clock(0, 3))).toBe(3) // and again every 64 pieces: 64, 128, 192
  })
})

describe('TokenCounter with a dead worker', () => {
  it('counts a long piece as its UTF-8 length, an upper bound on its tokens, instead of failing', async () => {
    const dead = { count: () => Promise.reject(new Error('the tokenizer worker exited')), close: async () => undefined }
    const long = 'é9'.repeat(200) // one 400-character piece, 600 bytes: sent to the worker
    const exact = countTextTokensWhole(long, { bos: false, precedingSpace: false })
    const counted = await new TokenCounter({ worker: dead }).count(`${long} short`, { bos: false, precedingSpace: false })
    expect(counted).toBe(Buffer.byteLength(long) + countTextTokensWhole(' short', { bos: false, precedingSpace: false }))
    expect(counted).toBeGreaterThan(exact)
  })
})
