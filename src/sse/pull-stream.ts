import type { ChunkSource } from '../lib/direct-body.js'
import type { ClientSignal } from '../lib/client-signal.js'

export type PullStreamHooks = {
  /** Unblock the source at once (destroy the backend body): a pending read must not wait for more data. */
  stop?(): void
  /** Called exactly once: `cancelled` when the reader went away (or the signal aborted) before the end. */
  end(cancelled: boolean): void
}

/**
 * Byte chunks from an async iterator (a generator, or the relay's own), read one chunk per request
 * and nothing ahead: a slow client slows the source, so backpressure reaches the backend. A cancel
 * does not wait for a pending read (an idle backend would hold it until its timeout), and a source
 * cancelled before its first read still ends: `end` is told exactly once, whatever happens. The
 * server writes it straight to the socket (lib/direct-body.ts); `toWebStream()` is the same as a
 * web stream.
 */
export class FrameSource implements ChunkSource {
  private ended = false
  private readonly abort = () => void this.cancel()

  constructor(
    private readonly frames: AsyncIterator<Uint8Array, unknown> & Pick<AsyncGenerator<Uint8Array, unknown>, 'return'>,
    private readonly hooks: PullStreamHooks,
    private readonly signal?: ClientSignal,
  ) {
    if (signal?.aborted) queueMicrotask(this.abort)
    else signal?.addEventListener('abort', this.abort, { once: true })
  }

  async next(): Promise<IteratorResult<Uint8Array, unknown>> {
    let next: IteratorResult<Uint8Array, unknown>
    try {
      next = await this.frames.next()
    } catch (err) {
      this.end(false)
      throw err
    }
    if (next.done) this.end(false)
    return next
  }

  async cancel(): Promise<void> {
    if (this.ended) return
    this.hooks.stop?.()
    this.end(true)
    await this.frames.return(undefined)
  }

  /** As a web stream that reads nothing ahead (highWaterMark 0). */
  toWebStream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          let next: IteratorResult<Uint8Array, unknown>
          try {
            next = await this.next()
          } catch (err) {
            controller.error(err)
            return
          }
          if (next.done) controller.close()
          else controller.enqueue(next.value)
        },
        cancel: () => this.cancel(),
      },
      { highWaterMark: 0 },
    )
  }

  private end(cancelled: boolean): void {
    if (this.ended) return
    this.ended = true
    this.signal?.removeEventListener('abort', this.abort)
    this.hooks.end(cancelled)
  }
}
