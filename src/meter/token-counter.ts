import { SPACE } from './pieces.js'
import { countPiece, type TextTokenOptions } from './text-tokens.js'
import { TokenizerWorker } from './tokenizer-worker.js'

/** Work done on the event loop before it is given back to everyone else. */
const SLICE_MS = 2
/** Pieces longer than this are counted on the worker thread (see TokenizerWorker). */
const WORKER_PIECE_CHARS = 256

const isSpace = (code: number) => code === 0x20 || code === 0x2581

/**
 * Where the piece of `text` (see pieces.ts) that starts at `start` ends: at the next space after a
 * character other than a space, or at the end. Pieces are cut one at a time, so a long text is
 * never split all at once.
 */
export function pieceEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (isSpace(text.charCodeAt(i)) && !isSpace(text.charCodeAt(i - 1))) return i
  }
  return text.length
}

/**
 * The piece from `start` to `end`, still spelled with spaces (turning them into ▁ is left to a
 * memo miss: see countPiece); the first carries the dummy-prefix ▁ when `precedingSpace` is set.
 */
export function rawPiece(text: string, start: number, end: number, precedingSpace: boolean): string {
  return start === 0 && precedingSpace ? SPACE + text.slice(0, end) : text.slice(start, end)
}

/**
 * Token counts that never hold the event loop for more than a slice: pieces are counted a couple of
 * milliseconds at a time, with the loop given back in between, and long pieces go to a worker
 * thread. Exact: the same counts as countTextTokens (see pieces.ts for why pieces add up).
 */
export class TokenCounter {
  constructor(private readonly worker: Pick<TokenizerWorker, 'count' | 'close'> = new TokenizerWorker()) {}

  async count(text: string, opts: TextTokenOptions = {}): Promise<number> {
    let count = (opts.bos ?? true) ? 1 : 0
    if (text === '') return count
    let sliceStarted = performance.now()
    const offThread: Array<Promise<number>> = []
    const precedingSpace = opts.precedingSpace ?? true
    let n = 0
    // A plain loop, not a generator: a generator's step costs as much as a memo hit.
    for (let start = 0; start < text.length;) {
      const end = pieceEnd(text, start)
      const raw = rawPiece(text, start, end, precedingSpace)
      start = end
      if (raw.length > WORKER_PIECE_CHARS) offThread.push(this.countOffThread(raw.replaceAll(' ', SPACE)))
      else count += countPiece(raw)
      if (++n % 64 === 0 && performance.now() - sliceStarted > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve))
        sliceStarted = performance.now()
      }
    }
    for (const counted of await Promise.all(offThread)) count += counted
    return count
  }

  /**
   * A long piece's count from the worker; if the worker has died, the piece's UTF-8 length instead.
   * That is an upper bound (every token, byte-fallback ones included, covers at least one byte), so
   * a broken worker over-charges a request rather than failing it or leaving it uncharged.
   */
  private countOffThread(piece: string): Promise<number> {
    return this.worker.count(piece).catch(() => Buffer.byteLength(piece))
  }

  close(): Promise<void> {
    return this.worker.close()
  }
}
