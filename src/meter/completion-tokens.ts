import { countTextTokens } from './text-tokens.js'

/**
 * Tokens in generated text, for backends that report no `usage`. A completion continues the
 * prompt, so it gets no `<s>` and no SentencePiece dummy-prefix space: the model emits any
 * leading space itself, and it is then part of `text`.
 */
export function countCompletionTokens(text: string): number {
  return countTextTokens(text, { bos: false, precedingSpace: false })
}
