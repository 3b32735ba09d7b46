import { BoundedMemo } from '../lib/bounded-memo.js'
import { pieceEnd } from './pieces.js'
import { countPiece } from './text-tokens.js'

/** The longest sentence remembered. Of a longer one, pieces are counted one by one until the rest fits. */
export const MAX_SENTENCE_CHARS = 256

/** A space (or ▁) after a full stop, question or exclamation mark, or a line break. */
const SENTENCE_BREAK = /[.!?\n][ \u2581]/g

/**
 * Where the first sentence of `text` that ends after `from` and no later than `limit` ends: just
 * before the space that follows its `.`, `!`, `?` or line break; -1 if none does. That is always
 * where a piece ends (a space after a character other than a space), so a sentence is a run of
 * whole pieces, cut into the same pieces out of any text, and its count is the sum of theirs
 * (pieces.ts). A regular expression, not a loop over characters: it scans about five times
 * faster. It looks at nothing past `limit`, so a caller can scan a long text once, in steps.
 */
export function sentenceEnd(text: string, from: number, limit: number): number {
  // A slice is a view of the text, made without copying (the text itself when it reaches the end).
  const view = text.slice(0, limit + 1)
  SENTENCE_BREAK.lastIndex = from
  // test(), not exec(): no match to allocate. A match is the mark and its space; the sentence ends before the space.
  return SENTENCE_BREAK.test(view) ? SENTENCE_BREAK.lastIndex - 1 : -1
}

/**
 * Sentences recur across requests far more than whole prompts do: a chat resends its history
 * every turn, and system prompts and instructions repeat. A remembered sentence costs one lookup
 * instead of a lookup per piece (about 20). Bounded: 10,000 sentences of at most 256 characters.
 */
const MEMO_MAX_ENTRIES = 10_000
const memo = new BoundedMemo<number>(MEMO_MAX_ENTRIES)

/** The token count of a sentence (a run of whole pieces, at most MAX_SENTENCE_CHARS), remembered. */
export function countSentence(sentence: string): number {
  let count = memo.get(sentence)
  if (count === undefined) {
    count = 0
    for (let start = 0; start < sentence.length;) {
      const end = pieceEnd(sentence, start)
      count += countPiece(sentence.slice(start, end))
      start = end
    }
    memo.set(sentence, count)
  }
  return count
}
