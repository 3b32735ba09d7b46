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

/** A count under way: where it has got to, and what it has counted so far. */
type CountRun = {
  readonly text: string
  readonly precedingSpace: boolean
  /** Counted up to here. */
  start: number
  /** Where the sentence that starts at `start` ends, once found. */
  sentenceEnds: number
  /** No sentence ends after `start` and up to here. */
  scanned: number
  count: number
  readonly offThread: Array<Promise<number>>
}

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

  /**
   * The count, as a number when it took one slice and nothing went to the worker (most prompts):
   * a promise costs every request a microtask turn, and the prompt count sits on every request's path.
   */
  count(text: string, opts: TextTokenOptions = {}): number | Promise<number> {
    const run: CountRun = {
      text,
      precedingSpace: opts.precedingSpace ?? true,
      start: 0,
      sentenceEnds: -1,
      scanned: 0,
      count: (opts.bos ?? true) ? 1 : 0,
      offThread: [],
    }
    this.countSlice(run)
    return run.start >= text.length && run.offThread.length === 0 ? run.count : this.countRest(run)
  }

  /** The rest of a count that ran past its first slice, or sent a piece to the worker. */
  private async countRest(run: CountRun): Promise<number> {
    while (run.start < run.text.length) {
      await new Promise((resolve) => setImmediate(resolve))
      this.countSlice(run)
    }
    for (const counted of await Promise.all(run.offThread)) run.count += counted
    return run.count
  }

  /** Counts on from `run.start` until the text ends or the slice's time is up. */
  private countSlice(run: CountRun): void {
    const { now } = this.parts
    const { text, precedingSpace } = run
    const sliceStarted = now()
    let n = 0
    // A plain loop, not a generator: a generator's step costs as much as a memo hit.
    while (run.start < text.length) {
      const start = run.start
      if (run.sentenceEnds <= start && run.scanned <= start) {
        const limit = start + SCAN_CHARS
        run.sentenceEnds = sentenceEnd(text, start, limit)
        run.scanned = run.sentenceEnds === -1 ? limit : run.sentenceEnds
      }
      // The dummy-prefix ▁ goes before the first sentence or piece, as SentencePiece puts it.
      const prefix = start === 0 && precedingSpace ? SPACE : ''
      if (run.sentenceEnds > start && prefix.length + run.sentenceEnds - start <= MAX_SENTENCE_CHARS) {
        run.count += this.parts.countSentence(prefix + text.slice(start, run.sentenceEnds))
        run.start = run.sentenceEnds
      } else {
        // No sentence ends within reach: a piece at a time, until one does.
        const end = pieceEnd(text, start)
        const piece = prefix + text.slice(start, end)
        run.start = end
        if (piece.length > WORKER_PIECE_CHARS) run.offThread.push(this.countOffThread(piece.replaceAll(' ', SPACE)))
        else run.count += this.parts.countPiece(piece)
      }
      if (++n % 64 === 0 && now() - sliceStarted > SLICE_MS) return
    }
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
