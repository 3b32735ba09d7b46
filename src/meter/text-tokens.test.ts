import llamaTokenizer from 'llama-tokenizer-js'
import { afterEach, beforeEach, describe, it, expect, vi, type MockInstance } from 'vitest'
import { countPiece, countTextTokens, countTextTokensWhole } from './text-tokens.js'
import { minTextTokens } from './pieces.js'
import { LONGEST_TOKEN_CHARS } from '../lib/token-floor.js'
import { retainedBySlices } from '../../test/helpers/full-gc.js'
import { seededRandom } from '../../test/helpers/seeded-random.js'

describe('countTextTokens', () => {
  // protocol-notes §3.3, VERIFIED-HERE: encode("Hello world!") → [1, 15043, 3186, 29991].
  it('counts BOS and the prefix space by default, like the library and HF', () => {
    expect(countTextTokens('Hello world!')).toBe(4)
  })

  it('drops BOS on request', () => {
    expect(countTextTokens('Hello world!', { bos: false })).toBe(3)
  })

  // [1, 3148 "▁US", 1001 "ER", 29901 ":", 29871 "▁"]: the worked example's first segment.
  it('counts "USER: " as 5 with BOS and prefix space', () => {
    expect(countTextTokens('USER: ')).toBe(5)
    // Without the prefix space the word is the single token "USER" (11889): "USER" ":" "▁".
    expect(countTextTokens('USER: ', { bos: false, precedingSpace: false })).toBe(3)
  })

  // Without the prefix space "\n" is the single byte token <0x0A> (13); with it, "▁" + "\n".
  it('counts the prefix space as its own token when it cannot merge', () => {
    expect(countTextTokens('\n', { bos: false, precedingSpace: false })).toBe(1)
    expect(countTextTokens('\n', { bos: false, precedingSpace: true })).toBe(2)
  })

  it('counts the prefix space by default, also when only BOS is turned off', () => {
    expect(countTextTokens('\n')).toBe(3)
    expect(countTextTokens('\n', { bos: false })).toBe(2)
    expect(countTextTokens('\n', { precedingSpace: false })).toBe(2)
  })

  it('does not know <image>: it is three ordinary tokens', () => {
    expect(countTextTokens('<image>', { bos: false, precedingSpace: false })).toBe(3)
    expect(countTextTokens('<image>')).toBe(4)
  })

  it('falls back to UTF-8 byte tokens for characters outside the vocabulary', () => {
    // U+1F600 is 4 UTF-8 bytes, none of them merged.
    expect(countTextTokens('😀', { bos: false, precedingSpace: false })).toBe(4)
  })

  it('counts only BOS for empty text, and nothing without it', () => {
    expect(countTextTokens('')).toBe(1)
    expect(countTextTokens('', { precedingSpace: false })).toBe(1)
    expect(countTextTokens('', { bos: false })).toBe(0)
  })

  it('is deterministic across calls (one shared, stateless tokenizer)', () => {
    const text = 'The image shows a cat sitting on a windowsill.'
    expect(countTextTokens(text)).toBe(12)
    expect(countTextTokens(text)).toBe(12)
  })
})

describe('counting by pieces gives the library’s own counts', () => {
  // The proof in pieces.ts rests on two facts about the Llama-2 vocabulary; check them on the data.
  const internals = llamaTokenizer as unknown as { vocabById: string[]; merges: Map<string, number> }

  it('has no token with a ▁ right after another character', () => {
    const offending = internals.vocabById.filter((token) => /[^\u2581]\u2581/u.test(token))
    expect(internals.vocabById).toHaveLength(32_000)
    expect(offending).toEqual([])
  })

  it('has no merge that joins a token ending in another character to one starting with ▁, nor any byte or special token', () => {
    const byteOrSpecial = new Set(internals.vocabById.slice(0, 259))
    const crossing: string[] = []
    for (const merge of internals.merges.keys()) {
      const [left = '', right = ''] = merge.split(' ')
      if (byteOrSpecial.has(left) || byteOrSpecial.has(right)) crossing.push(merge)
      if (right.startsWith('\u2581') && !left.endsWith('\u2581')) crossing.push(merge)
    }
    expect(internals.merges.size).toBe(61_249)
    expect(crossing).toEqual([])
  })

  it('has each ASCII digit as a token of its own, no other token with a digit in it (bytes aside), and no merge with one', () => {
    const withDigit = internals.vocabById.slice(259).filter((token) => /[0-9]/.test(token))
    expect(withDigit.sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    expect([...internals.merges.keys()].filter((merge) => /[0-9]/.test(merge))).toEqual([])
  })

  it('has no token of more than LONGEST_TOKEN_CHARS characters (byte and special tokens aside), and one of that many', () => {
    const longest = Math.max(...internals.vocabById.slice(259).map((token) => token.length))
    expect(longest).toBe(LONGEST_TOKEN_CHARS)
  })

  it('bounds a count from below by a sixteenth of the characters, the dummy-prefix ▁ among them', () => {
    const spaces = ' '.repeat(16) // with the prefix, 17 ▁: more than the longest token covers
    expect(minTextTokens(spaces, false)).toBe(1)
    expect(minTextTokens(spaces, true)).toBe(2)
    expect(countTextTokens(spaces, { bos: false, precedingSpace: true })).toBeGreaterThanOrEqual(2)
  })

  it('matches the library’s whole-text encode on 10,000 varied strings, with and without BOS and prefix space', () => {
    const { random, pick } = seededRandom(20261201)
    const atoms = [
      'the',
      'image',
      'llama',
      'volcano',
      'What',
      'is',
      'in',
      'this',
      '?',
      '!',
      '.',
      ',',
      ':',
      '"quoted"',
      "don't",
      '12345',
      '3.14159',
      '2026-12-01',
      '0x1F',
      '3f2a9c1e-8b7d-4e6f-a5c3-0d9e8f7a6b5c',
      'v2.0.1',
      '1st',
      '10,000',
      '12:30pm',
      'abc123def',
      '٣٤',
      '１２',
      '²½',
      '€',
      'naïve',
      'façade',
      'Ünïcödé',
      '日本語',
      '中文字',
      '한국어',
      'русский',
      '😀',
      '🦙',
      '👩‍👩‍👧',
      '\u2581',
      '<image>',
      '<s>',
      'USER:',
      'ASSISTANT:',
      'supercalifragilisticexpialidocious',
      'a'.repeat(40),
      'x9'.repeat(30),
      'https://example.com/a/b?c=d',
      '\t',
      '\r\n',
    ]
    const gaps = [' ', ' ', ' ', '  ', '   ', '\n', '\n\n', ' \n ', '\t', '', '      ']
    let checked = 0
    for (let n = 0; n < 10_000; n++) {
      let text = random() < 0.2 ? pick(gaps) : ''
      const words = Math.floor(random() * 40)
      for (let w = 0; w < words; w++) text += pick(atoms) + pick(gaps)
      if (random() < 0.1) text = text.trimEnd()
      const opts = { bos: random() < 0.5, precedingSpace: random() < 0.5 }
      expect(countTextTokens(text, opts), JSON.stringify({ text, opts })).toBe(countTextTokensWhole(text, opts))
      checked++
    }
    expect(checked).toBe(10_000)
  }, 120_000) // ten thousand whole-text encodes: seconds, more on a loaded machine
})

// The memo is observed through the tokenizer it saves calls to. It lives as long as the module, so
// each test uses pieces no other test in this file counts.
describe('countTextTokens: memo of pieces', () => {
  let encode: MockInstance<typeof llamaTokenizer.encode>
  beforeEach(() => {
    encode = vi.spyOn(llamaTokenizer, 'encode')
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('encodes a piece once, whatever the BOS option (BOS is counted apart from the pieces)', () => {
    const text = 'memoquestionpiece'
    const count = countTextTokens(text)
    expect(countTextTokens(text)).toBe(count)
    expect(countTextTokens(text, { bos: false })).toBe(count - 1)
    expect(encode).toHaveBeenCalledTimes(1)
    expect(countTextTokens(`${text} ${text}`, { bos: false, precedingSpace: true })).toBe(2 * (count - 1)) // the same piece twice
    expect(encode).toHaveBeenCalledTimes(1)
  })

  it('remembers pieces up to 64 characters and always encodes longer ones', () => {
    const atLimit = 'q'.repeat(63) // with its ▁: 64
    const overLimit = 'r'.repeat(64) // with its ▁: 65
    const count = countTextTokens(atLimit)
    expect(countTextTokens(atLimit)).toBe(count)
    expect(encode).toHaveBeenCalledTimes(1)
    const longer = countTextTokens(overLimit)
    expect(countTextTokens(overLimit)).toBe(longer)
    expect(encode).toHaveBeenCalledTimes(3)
  })

  it('remembers the latest 25,000 pieces at least and 50,000 at most, forgetting the oldest', () => {
    const pieces = Array.from({ length: 50_001 }, (_, i) => `evictpiece${lettersOf(i)}`)
    for (const piece of pieces) countTextTokens(piece, { bos: false })
    expect(encode).toHaveBeenCalledTimes(50_001)
    for (const i of [50_000, 25_001]) countTextTokens(pieces[i] ?? '', { bos: false }) // the newest, and the 25,000th newest
    expect(encode).toHaveBeenCalledTimes(50_001)
    countTextTokens(pieces[0] ?? '', { bos: false }) // forgotten with its whole generation
    expect(encode).toHaveBeenCalledTimes(50_002)
  }, 30_000)

  it('counts a number digit by digit: a new id costs no encode, and pushes no remembered piece out', () => {
    const word = 'keptbesidedigits'
    const wordTokens = countTextTokens(word, { bos: false })
    for (let i = 0; i < 60_000; i++) expect(countTextTokens(`${word}${i}`, { bos: false })).toBe(wordTokens + String(i).length)
    expect(countTextTokens(word, { bos: false })).toBe(wordTokens)
    expect(encode).toHaveBeenCalledTimes(1)
  })
})

/** `n` written in the letters a-j, so each number makes a distinct piece without digits. */
const lettersOf = (n: number) => String(n).replace(/[0-9]/g, (d) => String.fromCharCode(97 + Number(d)))

// Outside the block above: the tokenizer's spy keeps every argument it saw, slices included.
describe('countTextTokens: memory of the memo', () => {
  it('keeps its pieces, not the prompts they were cut from', () => {
    expect(retainedBySlices((slice) => countPiece(slice))).toBeLessThan(4 * 2 ** 20)
  })
})
