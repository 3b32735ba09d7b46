export type PullStreamHooks = {
  /** Unblock the source at once (destroy the backend body): a pending read must not wait for more data. */
  stop?(): void
  /** Called exactly once: `cancelled` when the reader went away (or the signal aborted) before the end. */
  end(cancelled: boolean): void
}

/**
 * An async generator of byte chunks as a web stream that reads nothing ahead (highWaterMark 0): a
 * slow client slows the source, so backpressure reaches the backend. Unlike `ReadableStream.from`,
 * a cancel does not wait for a pending read (an idle backend would hold it until its timeout), and
 * a stream cancelled before its first read still ends: `end` is told exactly once, whatever happens.
 */
export function pullStream(
  frames: AsyncGenerator<Uint8Array, unknown>,
  hooks: PullStreamHooks,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  let ended = false
  const end = (cancelled: boolean) => {
    if (ended) return
    ended = true
    signal?.removeEventListener('abort', abort)
    hooks.end(cancelled)
  }
  const cancel = async () => {
    if (ended) return
    hooks.stop?.()
    end(true)
    await frames.return(undefined)
  }
  const abort = () => void cancel()
  if (signal?.aborted) queueMicrotask(abort)
  else signal?.addEventListener('abort', abort, { once: true })

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: IteratorResult<Uint8Array, unknown>
        try {
          next = await frames.next()
        } catch (err) {
          end(false)
          controller.error(err)
          return
        }
        if (next.done) {
          end(false)
          controller.close()
        } else {
          controller.enqueue(next.value)
        }
      },
      cancel,
    },
    { highWaterMark: 0 },
  )
}
