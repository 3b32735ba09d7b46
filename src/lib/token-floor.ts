/**
 * The longest token of the Llama-2 vocabulary, in characters (16 spaces): no token covers more
 * text, so a text of n characters is at least n / 16 tokens, whatever it holds. Both the meter
 * (before it tokenizes) and the body parse (before it even decodes a long text) refuse with this.
 */
export const LONGEST_TOKEN_CHARS = 16

/** At least this many tokens for `chars` characters of text (UTF-16 code units, as `string.length` counts them). */
export function minTokensOfChars(chars: number): number {
  return Math.ceil(chars / LONGEST_TOKEN_CHARS)
}
