// Llama-2 SentencePiece token counts (Vicuna-1.5, the LM inside llava-1.5, shares the vocabulary).
//
// llama-tokenizer-js is an ES module whose default export is a ready tokenizer, built (~60 ms:
// vocabulary and merge tables decoded from base64) when the package is first evaluated. Sharing
// that one instance is fine, unlike the module singletons STYLE.md rules out: it is pure and
// stateless (no I/O, no config, encode() keeps nothing between calls), so no test needs to swap it.
import llamaTokenizer from 'llama-tokenizer-js'
import { BoundedMemo } from '../lib/bounded-memo.js'
import { SPACE, toPieces } from './pieces.js'

export type TextTokenOptions = {
  /** Count the `<s>` (id 1) the Llama tokenizer puts in front of a prompt. Default true. */
  bos?: boolean
  /** Count SentencePiece's dummy-prefix space (`▁`) before the first word. Default true. */
  precedingSpace?: boolean
}

/**
 * Pieces recur (words with their spaces, template fragments like `▁USER`): their counts are
 * remembered, up to a bound. Long pieces are rarely repeated and would make the memo large.
 */
const MEMO_MAX_ENTRIES = 50_000
const MEMO_MAX_PIECE = 64
const memo = new BoundedMemo<number>(MEMO_MAX_ENTRIES)

/**
 * One piece's token count (see pieces.ts): the library's own encode, remembered for short pieces.
 * The piece may be spelled with ▁ (toPieces) or still with spaces (TokenCounter: a memo hit then
 * costs no ▁ copy). Both spellings share the memo and agree: a key with a space is never a ▁
 * spelling, and a key without one is the same piece either way. A piece with a digit is counted
 * around its digits (countAroundDigits) and never remembered whole.
 */
export function countPiece(piece: string): number {
  if (HAS_DIGIT.test(piece)) return countAroundDigits(piece)
  if (piece.length > MEMO_MAX_PIECE) return encodedLength(piece)
  let count = memo.get(piece)
  if (count === undefined) {
    count = encodedLength(piece)
    memo.set(piece, count)
  }
  return count
}

const HAS_DIGIT = /[0-9]/

/**
 * Every ASCII digit is one token of its own, and the text between digits is counted as pieces
 * are (pieces.ts says why this is exact). Ids, numbers and times are mostly new: counted this way
 * they cost a digit test each and lookups of the short runs between them, where a whole encode
 * costs a BPE pass, and they never push the words that recur out of the memo.
 */
function countAroundDigits(piece: string): number {
  let count = 0
  let start = 0
  for (let i = 0; i < piece.length; i++) {
    const code = piece.charCodeAt(i)
    if (code < 0x30 || code > 0x39) continue
    if (i > start) count += countPiece(piece.slice(start, i))
    count++
    start = i + 1
  }
  if (start < piece.length) count += countPiece(piece.slice(start))
  return count
}

const encodedLength = (piece: string) => llamaTokenizer.encode(piece.replaceAll(' ', SPACE), false, false).length

/**
 * Defaults match llama-tokenizer-js and HF's `tokenizer(text)`: a prompt starts with BOS + "▁".
 * Synchronous, for short texts; prompts and long completions go through TokenCounter, which
 * bounds the work and keeps the event loop free.
 */
export function countTextTokens(text: string, opts: TextTokenOptions = {}): number {
  const bos = opts.bos ?? true
  // The library returns [] for '' even when asked for BOS; HF still emits <s> for an empty prompt.
  let count = bos ? 1 : 0
  if (text === '') return count
  for (const piece of toPieces(text, opts.precedingSpace ?? true)) count += countPiece(piece)
  return count
}

/** The library's own count of the whole text in one encode: the reference the pieces are held to. */
export function countTextTokensWhole(text: string, opts: TextTokenOptions = {}): number {
  const bos = opts.bos ?? true
  if (text === '') return bos ? 1 : 0
  return llamaTokenizer.encode(text, bos, opts.precedingSpace ?? true).length
}
