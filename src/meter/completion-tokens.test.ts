import { describe, it, expect } from 'vitest'
import { countCompletionTokens } from './completion-tokens.js'
import { countTextTokens } from './text-tokens.js'

describe('countCompletionTokens', () => {
  it('is 0 for empty text', () => {
    expect(countCompletionTokens('')).toBe(0)
  })

  // "Hello" (10994) "▁world" (3186) "!" (29991): no <s>, and no "▁" in front of Hello.
  it('counts neither BOS nor the prompt prefix space', () => {
    expect(countCompletionTokens('Hello world!')).toBe(3)
    expect(countTextTokens('Hello world!')).toBe(4)
  })

  // A leading space the model generated is its own: "▁A" (319) "▁cat" (6635) "." (29889).
  it('keeps a leading space that is part of the generated text', () => {
    expect(countCompletionTokens(' A cat.')).toBe(3)
    expect(countCompletionTokens('A cat.')).toBe(3)
  })

  it('counts a longer sentence', () => {
    expect(countCompletionTokens('The image shows a cat sitting on a windowsill.')).toBe(11)
  })

  it('counts byte-fallback tokens', () => {
    expect(countCompletionTokens('😀')).toBe(4)
  })
})
