import { minTokensOfChars } from '../lib/token-floor.js'

/** SentencePiece's space: the tokenizer writes every space as this before merging. */
export const SPACE = '\u2581'

/**
 * The text as the Llama tokenizer sees it (spaces as ▁, and the dummy-prefix ▁ when asked), cut
 * into pieces that tokenize independently: a new piece starts at every ▁ that follows a character
 * other than ▁. So "a  big cat" → "▁a", "▁▁big", "▁cat".
 *
 * Why the count of the whole equals the sum of the counts of the pieces, on the tokenizer's own
 * rules: BPE only ever merges two adjacent tokens into a token of the vocabulary, and in the
 * Llama-2 vocabulary no token has a ▁ right after another character (▁ appears only at the start
 * of a token or in runs of ▁): checked over all 32,000 tokens and 61,249 merges by
 * text-tokens.test.ts, so no merge can join the end of one piece to the ▁ that starts the next.
 * Byte-fallback tokens (<0x0A> and friends) take part in no merge at all. Merge order inside a
 * piece is unchanged: priority is the merge's rank first, its position only among equal ranks,
 * and positions keep their order within a piece. Each piece is therefore tokenized exactly as it
 * would be inside the whole text, and a piece's count can be remembered and reused.
 *
 * A piece can be cut further at its digits (countPiece does). Every ASCII digit is a token of its
 * own in the Llama-2 vocabulary (SentencePiece's split_digits), and no other token has a digit in
 * it (byte-fallback tokens are spelled `<0x31>`, but they stand for bytes, not for their spelling,
 * and merge with nothing): both checked by text-tokens.test.ts. So no merge ever involves a digit,
 * which stays one token, and no merge reaches across it: the text either side of a digit
 * tokenizes on its own, and a piece's count is the number of its digits plus the counts of the
 * runs between them.
 */
export function toPieces(text: string, precedingSpace: boolean): string[] {
  const altered = (precedingSpace ? SPACE : '') + text.replaceAll(' ', SPACE)
  const pieces: string[] = []
  for (let start = 0; start < altered.length;) {
    const end = pieceEnd(altered, start)
    pieces.push(altered.slice(start, end))
    start = end
  }
  return pieces
}

const isSpace = (code: number) => code === 0x20 || code === 0x2581

/**
 * Where the piece of `text` that starts at `start` ends: at the next space (or ▁) after a
 * character other than a space, or at the end. A ▁ at `start` (the dummy prefix written in, or a
 * run of spaces) never ends the piece it starts. The text may still be spelled with spaces, so
 * TokenCounter cuts a long text one piece at a time, without copying it whole.
 */
export function pieceEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (isSpace(text.charCodeAt(i)) && !isSpace(text.charCodeAt(i - 1))) return i
  }
  return text.length
}

/** At least this many tokens, whatever the text: no token covers more than LONGEST_TOKEN_CHARS (lib/token-floor.ts) characters. */
export function minTextTokens(text: string, precedingSpace: boolean): number {
  return minTokensOfChars(text.length + (precedingSpace ? 1 : 0))
}
