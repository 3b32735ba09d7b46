import { Readable } from 'node:stream'
import { errors, type Dispatcher } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import type { ClientSignal } from '../lib/client-signal.js'
import { joinChunks, readCapped } from '../lib/read-capped.js'

// A completion is read whole (it is parsed whole), so its body needs no stream. undici's request()
// wraps every answer in a Readable, with a resource for async hooks and a stream's state and
// events. This handler keeps the chunks as they come instead. Measured on a text request (perf, the
// same load on each): stream and request() functions fell from 25 to 15 µs of the request's 290-320
// (what is left is mostly the client's own request, a stream too);
// alone, against a backend in another process, a request and its answer cost 40 µs of CPU through
// request() and 33 µs through this handler. Streamed answers keep request()'s Readable.

/** What CollectedBody.bytesNow gives for a body still coming (or one it would not join at once). */
export const NOT_ENDED = Symbol('not ended')

/** How a collected body ended: read to its end, cut off past its cap, or broken off by an error. */
type Ending = { kind: 'complete' } | { kind: 'too_large' } | { kind: 'failed'; error: Error }

/** A backend answer's body, its chunks kept as they arrive, up to a cap. */
export class CollectedBody {
  private readonly chunks: Buffer[] = []
  /** Bytes arrived, kept or not: what the cap counts. */
  private received = 0
  /** Bytes in `chunks`: what a read joins. */
  private kept = 0
  private discarded = false
  private ending: Ending | undefined
  private endListeners: (() => void)[] = []

  constructor(
    private readonly maxBytes: number,
    private readonly abort: (reason: Error) => void,
  ) {}

  /**
   * Every byte of the body once it has all come, or `undefined` if it passed its cap (the
   * connection was dropped then, the rest unread) or the reader's `maxBytes`. Rejects with the
   * error that broke it off.
   */
  async bytes(maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer | undefined> {
    if (!this.ending) await new Promise<void>((resolve) => this.onEnd(resolve))
    // Ended now: bytesNow says all but how to join several chunks, which takes steps.
    const now = this.bytesNow(maxBytes)
    return now === NOT_ENDED ? await joinChunks(this.chunks, this.kept) : now
  }

  /**
   * What bytes() gives, at once and with no promise, when the body has ended already (a short
   * answer has mostly come in the socket read that brought its headers) and is one chunk; else
   * NOT_ENDED. Throws the error that broke it off.
   */
  bytesNow(maxBytes = Number.POSITIVE_INFINITY): Buffer | undefined | typeof NOT_ENDED {
    const { ending } = this
    if (!ending) return NOT_ENDED
    if (ending.kind === 'failed') throw ending.error
    if (ending.kind === 'too_large' || this.received > maxBytes) return undefined
    const [only] = this.chunks
    // One chunk as it is, as joinChunks would: each socket read has its own memory.
    if (this.chunks.length === 1 && only) return only
    return this.chunks.length === 0 ? Buffer.alloc(0) : NOT_ENDED
  }

  /** Nothing of it is wanted: what still comes is counted against the cap and let go, and the connection goes back to its pool. */
  discard(): void {
    this.discarded = true
    this.chunks.length = 0
    this.kept = 0
  }

  /** `listener` runs once the body has ended, whole or not: at once if it has. */
  onEnd(listener: () => void): void {
    if (this.ending) listener()
    else this.endListeners.push(listener)
  }

  /** A chunk from the socket: its own memory, which nothing else writes to (see joinChunks). */
  arrived(chunk: Buffer): void {
    if (this.ending) return
    this.received += chunk.byteLength
    if (this.received > this.maxBytes) {
      this.end({ kind: 'too_large' })
      this.discard()
      this.abort(new Error(`The answer passed ${this.maxBytes} bytes.`))
      return
    }
    if (this.discarded) return
    this.chunks.push(chunk)
    this.kept += chunk.byteLength
  }

  /** Only the first ending counts: the abort that follows a passed cap must not turn `too_large` into a failure. */
  end(ending: Ending): void {
    if (this.ending) return
    this.ending = ending
    const listeners = this.endListeners
    this.endListeners = []
    for (const listener of listeners) listener()
  }
}

/** A backend answer's body: a stream, or collected whole (CollectedBody). */
export type AnswerBody = Readable | CollectedBody

export type WholeAnswer = { status: number; headers: IncomingHttpHeaders; body: CollectedBody }

/**
 * The undici handler behind a whole answer: `answered` when the status and headers arrive (the
 * body still coming, into the CollectedBody), `failed` if the request fails before they do. When
 * the client leaves (`signal`), the backend request is dropped, as request() drops it.
 */
export class WholeAnswerHandler implements Dispatcher.DispatchHandler {
  private body: CollectedBody | undefined
  private controller: Dispatcher.DispatchController | undefined
  private readonly onClientGone = () => this.controller?.abort(new errors.RequestAbortedError())

  constructor(
    private readonly maxBytes: number,
    private readonly signal: ClientSignal | null,
    private readonly requestBody: unknown,
    private readonly answered: (answer: WholeAnswer) => void,
    private readonly failed: (err: Error) => void,
  ) {
    signal?.addEventListener('abort', this.onClientGone, { once: true })
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.signal?.aborted) controller.abort(new errors.RequestAbortedError())
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    // 1xx: informational, the answer's own status is still to come.
    if (status < 200) return
    this.body = new CollectedBody(this.maxBytes, (reason) => controller.abort(reason))
    this.answered({ status, headers, body: this.body })
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.body?.arrived(chunk)
  }

  onResponseEnd(): void {
    this.stopWatching()
    this.body?.end({ kind: 'complete' })
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.stopWatching()
    // A request body still being streamed stops with the request, as request() stops it.
    if (this.requestBody instanceof Readable) this.requestBody.on('error', () => undefined).destroy(error)
    if (this.body) this.body.end({ kind: 'failed', error })
    else this.failed(error)
  }

  private stopWatching(): void {
    this.signal?.removeEventListener('abort', this.onClientGone)
  }
}

/**
 * Every byte of `body`, or `undefined` past `maxBytes`: a stream's rest is left unread; a collected
 * body was cut off at its own cap as it came, and is refused here past a smaller `maxBytes` too.
 */
export function readAnswerBody(body: AnswerBody, maxBytes: number): Promise<Buffer | undefined> {
  return body instanceof CollectedBody ? body.bytes(maxBytes) : readCapped(body, maxBytes)
}

/** readAnswerBody at once, where CollectedBody.bytesNow can answer; else NOT_ENDED (a stream always). */
export function readAnswerBodyNow(body: AnswerBody, maxBytes: number): Buffer | undefined | typeof NOT_ENDED {
  return body instanceof CollectedBody ? body.bytesNow(maxBytes) : NOT_ENDED
}

/** An answer not wanted: read to its end and let go, so its connection goes back to the pool. */
export function discardAnswerBody(body: AnswerBody): void {
  if (body instanceof CollectedBody) body.discard()
  else body.resume()
}

/** `listener` once the body has ended or was dropped: its replica no longer carries the request. */
export function whenAnswerBodyEnds(body: AnswerBody, listener: () => void): void {
  if (body instanceof CollectedBody) body.onEnd(listener)
  else body.once('close', listener)
}
