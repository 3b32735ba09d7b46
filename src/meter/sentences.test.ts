import llamaTokenizer from 'llama-tokenizer-js'
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { SPACE } from './pieces.js'
import { countSentence, sentenceEnd } from './sentences.js'
import { countTextTokensWhole } from './text-tokens.js'
import { retainedBySlices } from '../../test/helpers/full-gc.js'

describe('sentenceEnd', () => {
  it('ends a sentence at the space or ▁ after ".", "!", "?" or a line break', () => {
    for (const mark of ['.', '!', '?', '\n']) {
      for (const space of [' ', SPACE]) {
        const text = `Is it so${mark}${space}Yes`
        expect(sentenceEnd(text, 0, 100), JSON.stringify(text)).toBe(9)
      }
    }
  })

  it('ends none at other marks, at a mark without a space after it, or at a space after a space', () => {
    for (const text of ['a, b; c: d', 'version 1.5 is out', 'end.', 'a.\tb', 'a  b. ', 'a ▁b']) {
      expect(sentenceEnd(text, 0, 100), JSON.stringify(text)).toBe(text === 'a  b. ' ? 5 : -1)
    }
  })

  it('finds the first sentence that ends after `from`', () => {
    const text = 'One. Two. Three.'
    expect(sentenceEnd(text, 0, 100)).toBe(4)
    expect(sentenceEnd(text, 3, 100)).toBe(4) // the space at 4 follows the "." at 3
    expect(sentenceEnd(text, 4, 100)).toBe(9)
    expect(sentenceEnd(text, 9, 100)).toBe(-1) // the last "." has no space after it
  })

  it('looks at no sentence ending past `limit`', () => {
    const text = 'One. Two. '
    expect(sentenceEnd(text, 0, 3)).toBe(-1)
    expect(sentenceEnd(text, 0, 4)).toBe(4)
    expect(sentenceEnd(text, 5, 8)).toBe(-1)
    expect(sentenceEnd(text, 5, 9)).toBe(9)
    expect(sentenceEnd(text, 5, 1_000)).toBe(9)
  })
})

// The memo is observed through the tokenizer it saves calls to: a sentence holding a word longer
// than the piece memo keeps (64 characters) is encoded again unless the sentence is remembered.
describe('countSentence', () => {
  let encode: MockInstance<typeof llamaTokenizer.encode>
  beforeEach(() => {
    encode = vi.spyOn(llamaTokenizer, 'encode')
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  const longWord = (tag: string) => `${tag}${'z'.repeat(70)}`

  it('counts a sentence as the library does, with the dummy prefix written in or not', () => {
    const prefixed = `${SPACE}Describe the ${longWord('a')} picture.`
    expect(countSentence(prefixed)).toBe(countTextTokensWhole(prefixed.slice(1), { bos: false, precedingSpace: true }))
    for (const sentence of [' and then it rained!', '\nWhat is 3.14?', `  two ${longWord('b')} spaces.`]) {
      expect(countSentence(sentence), JSON.stringify(sentence)).toBe(countTextTokensWhole(sentence, { bos: false, precedingSpace: false }))
    }
  })

  it('encodes a sentence once, then answers from memory', () => {
    const sentence = ` The ${longWord('once')} was there.`
    const count = countSentence(sentence)
    const calls = encode.mock.calls.length
    expect(calls).toBeGreaterThan(0)
    expect(countSentence(sentence)).toBe(count)
    expect(countSentence(`${sentence} `.slice(0, -1))).toBe(count) // an equal string, not the same one
    expect(encode).toHaveBeenCalledTimes(calls)
  })

  it('remembers the latest 5,000 sentences at least and 10,000 at most, forgetting the oldest', () => {
    const first = ` ${longWord('first')}.`
    const last = ` ${longWord('last')}.`
    countSentence(first)
    const sentence = (i: number) => ` ${longWord(`s${i}`)}.`
    for (let i = 0; i < 9_999; i++) countSentence(sentence(i))
    countSentence(last)
    encode.mockClear()
    countSentence(last) // the newest
    countSentence(sentence(9_999 - 4_999)) // the 5,000th newest
    expect(encode).not.toHaveBeenCalled()
    countSentence(first) // forgotten with its whole generation
    expect(encode).toHaveBeenCalled()
  })
})

// Outside the block above: the tokenizer's spy keeps every argument it saw, slices included.
describe('countSentence memory', () => {
  it('keeps its sentences, not the prompts they were cut from', () => {
    expect(retainedBySlices((slice) => countSentence(slice))).toBeLessThan(4 * 2 ** 20)
  })
})
