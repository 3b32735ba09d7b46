/**
 * The same bytes, with `done` called exactly once when the stream ends, fails or is cancelled by
 * the reader (a client that disconnects). Pull-based, so backpressure passes straight through.
 */
export function onStreamEnd<T>(source: ReadableStream<T>, done: () => void): ReadableStream<T> {
  const reader = source.getReader()
  let called = false
  const once = () => {
    if (called) return
    called = true
    done()
  }
  return new ReadableStream<T>(
    {
      async pull(controller) {
        try {
          const next = await reader.read()
          if (next.done) {
            controller.close()
            once()
          } else {
            controller.enqueue(next.value)
          }
        } catch (err) {
          controller.error(err)
          once()
        }
      },
      async cancel(reason) {
        once()
        await reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
