import { pieceEnd, SPACE } from './pieces.js'
import { countSentence, MAX_SENTENCE_CHARS, sentenceEnd } from './sentences.js'
import { countPiece, type TextTokenOptions } from './text-tokens.js'
import { TokenizerWorker } from './tokenizer-worker.js'

/** Work done on the event loop before it is given back to everyone else. */
const SLICE_MS = 2
/** Pieces longer than this are counted on the worker thread (see TokenizerWorker). */
const WORKER_PIECE_CHARS = 256
/** How far one search for the end of a sentence looks: the text is scanned once, this much at a time. */
const SCAN_CHARS = 4096

/** How a text is counted: the worker, the clock slices are timed by, and the counts of sentences and pieces (tests watch these). */
export type CounterParts = {
  worker: Pick<TokenizerWorker, 'count' | 'close'>
  now: () => number
  countSentence: (sentence: string) => number
  countPiece: (piece: string) => number
}

/**
 * Token counts that never hold the event loop for more than a slice: sentences (remembered) and
 * pieces are counted a couple of milliseconds at a time, with the loop given back in between, and
 * long pieces go to a worker thread. Exact: the same counts as countTextTokens (see pieces.ts for
 * why pieces add up, and sentences.ts for why sentences do).
 */
export class TokenCounter {
  private readonly parts: CounterParts

  constructor(parts: Partial<CounterParts> = {}) {
    this.parts = {
      worker: parts.worker ?? new TokenizerWorker(),
      now: parts.now ?? (() => performance.now()),
      countSentence: parts.countSentence ?? countSentence,
      countPiece: parts.countPiece ?? countPiece,
    }
  }

  async count(text: string, opts: TextTokenOptions = {}): Promise<number> {
    const { now } = this.parts
    let count = (opts.bos ?? true) ? 1 : 0
    let sliceStarted = now()
    const offThread: Array<Promise<number>> = []
    const precedingSpace = opts.precedingSpace ?? true
    let sentenceEnds = -1 // where the sentence that starts at `start` ends, once found
    let scanned = 0 // no sentence ends after `start` and up to here
    let n = 0
    // A plain loop, not a generator: a generator's step costs as much as a memo hit.
    for (let start = 0; start < text.length;) {
      if (sentenceEnds <= start && scanned <= start) {
        const limit = start + SCAN_CHARS
        sentenceEnds = sentenceEnd(text, start, limit)
        scanned = sentenceEnds === -1 ? limit : sentenceEnds
      }
      // The dummy-prefix ▁ goes before the first sentence or piece, as SentencePiece puts it.
      const prefix = start === 0 && precedingSpace ? SPACE : ''
      if (sentenceEnds > start && prefix.length + sentenceEnds - start <= MAX_SENTENCE_CHARS) {
        count += this.parts.countSentence(prefix + text.slice(start, sentenceEnds))
        start = sentenceEnds
      } else {
        // No sentence ends within reach: a piece at a time, until one does.
        const end = pieceEnd(text, start)
        const piece = prefix + text.slice(start, end)
        start = end
        if (piece.length > WORKER_PIECE_CHARS) offThread.push(this.countOffThread(piece.replaceAll(' ', SPACE)))
        else count += this.parts.countPiece(piece)
      }
      if (++n % 64 === 0 && now() - sliceStarted > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve))
        sliceStarted = now()
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
    return this.parts.worker.count(piece).catch(() => Buffer.byteLength(piece))
  }

  close(): Promise<void> {
    return this.parts.worker.close()
  }
}
