import llamaTokenizer from 'llama-tokenizer-js'
import { afterEach, beforeEach, describe, it, expect, vi, type MockInstance } from 'vitest'
import { countTextTokens } from './text-tokens.js'

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

// The memo is observed through the tokenizer it saves calls to. It lives as long as the module, so
// each test uses texts no other test in this file counts.
describe('countTextTokens: memo', () => {
  let encode: MockInstance<typeof llamaTokenizer.encode>
  beforeEach(() => {
    encode = vi.spyOn(llamaTokenizer, 'encode')
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('encodes a short text once per combination of options', () => {
    const text = 'memo: a short question about a picture?'
    const count = countTextTokens(text)
    expect(countTextTokens(text)).toBe(count)
    expect(encode).toHaveBeenCalledTimes(1)
    expect(countTextTokens(text, { bos: false })).toBe(count - 1)
    expect(countTextTokens(text, { bos: false })).toBe(count - 1)
    expect(encode).toHaveBeenCalledTimes(2)
  })

  it('remembers texts up to 1,024 characters and always encodes longer ones', () => {
    const atLimit = 'm'.repeat(1_024)
    const overLimit = 'n'.repeat(1_025)
    const count = countTextTokens(atLimit)
    expect(countTextTokens(atLimit)).toBe(count)
    expect(encode).toHaveBeenCalledTimes(1)
    const longer = countTextTokens(overLimit)
    expect(countTextTokens(overLimit)).toBe(longer)
    expect(encode).toHaveBeenCalledTimes(3)
  })

  it('holds at most 10,000 texts, forgetting the oldest first', () => {
    const texts = Array.from({ length: 10_001 }, (_, i) => `evict ${i}`)
    for (const text of texts) countTextTokens(text)
    expect(encode).toHaveBeenCalledTimes(10_001)
    countTextTokens(texts[1] ?? '') // the second oldest is still remembered...
    expect(encode).toHaveBeenCalledTimes(10_001)
    countTextTokens(texts[0] ?? '') // ...the oldest was forgotten when the 10,001st came in
    expect(encode).toHaveBeenCalledTimes(10_002)
  })
})
