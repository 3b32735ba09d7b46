import { countTextTokens, type TextTokenOptions } from './text-tokens.js'

/**
 * How generated text is counted. A completion continues the prompt, so it gets no `<s>` and no
 * SentencePiece dummy-prefix space: the model emits any leading space itself, and it is then
 * part of `text`.
 */
export const COMPLETION_TEXT: TextTokenOptions = { bos: false, precedingSpace: false }

/** Tokens in generated text, synchronously: for short texts (the gateway itself counts through TokenCounter). */
export function countCompletionTokens(text: string): number {
  return countTextTokens(text, COMPLETION_TEXT)
}
