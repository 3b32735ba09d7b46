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

/** Defaults match llama-tokenizer-js and HF's `tokenizer(text)`: a prompt starts with BOS + "▁". */
export function countTextTokens(text: string, opts: TextTokenOptions = {}): number {
  const bos = opts.bos ?? true
  const precedingSpace = opts.precedingSpace ?? true
  // The library returns [] for '' even when asked for BOS; HF still emits <s> for an empty prompt.
  if (text === '') return bos ? 1 : 0
  return llamaTokenizer.encode(text, bos, precedingSpace).length
}
