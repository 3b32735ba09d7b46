// Llama-2 SentencePiece token counts (Vicuna-1.5, the LM inside llava-1.5, shares the vocabulary).
//
// llama-tokenizer-js is an ES module whose default export is a ready tokenizer, built (~60 ms:
// vocabulary and merge tables decoded from base64) when the package is first evaluated. It ships
// its own types.d.ts, so no local declaration is needed. Sharing that one instance is fine, unlike
// the module singletons STYLE.md rules out: it is pure and stateless (no I/O, no config, encode()
// keeps nothing between calls), so no test ever needs to swap it.
//
// Why a static import and not a lazier load: countTextTokens must stay synchronous, and the only
// synchronous lazy load of an ES module is require(esm), which package.json's engines range
// (Node >= 20.18) does not guarantee (it was unflagged in 20.19). The ESM module cache is the
// once-only singleton, and the cost is paid on the first import of this file, not per request.
import llamaTokenizer from 'llama-tokenizer-js'

export type TextTokenOptions = {
  /** Count the `<s>` (id 1) the Llama tokenizer puts in front of a prompt. Default true. */
  bos?: boolean
  /** Count SentencePiece's dummy-prefix space (`▁`) before the first word. Default true. */
  precedingSpace?: boolean
}

/**
 * Short texts recur (template fragments like `USER: `, the same question asked of many images);
 * their counts are remembered, up to a bound, since encoding costs tens of microseconds. Long
 * texts are rarely repeated and would make the memo large, so they are always encoded.
 */
const MEMO_MAX_ENTRIES = 10_000
const MEMO_MAX_TEXT = 1_024
const memo = new Map<string, number>()

/** Defaults match llama-tokenizer-js and HF's `tokenizer(text)`: a prompt starts with BOS + "▁". */
export function countTextTokens(text: string, opts: TextTokenOptions = {}): number {
  const bos = opts.bos ?? true
  const precedingSpace = opts.precedingSpace ?? true
  // The library returns [] for '' even when asked for BOS; HF still emits <s> for an empty prompt.
  if (text === '') return bos ? 1 : 0
  if (text.length > MEMO_MAX_TEXT) return llamaTokenizer.encode(text, bos, precedingSpace).length
  const key = `${bos ? 1 : 0}${precedingSpace ? 1 : 0}${text}`
  let count = memo.get(key)
  if (count === undefined) {
    count = llamaTokenizer.encode(text, bos, precedingSpace).length
    if (memo.size >= MEMO_MAX_ENTRIES) memo.delete(memo.keys().next().value as string) // oldest first
    memo.set(key, count)
  }
  return count
}
