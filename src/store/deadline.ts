/** A store call that did not answer in time. It may still run (or have run) on the server: its outcome is unknown. */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError'
  readonly code = 'STORE_TIMEOUT'
  constructor(ms: number) {
    super(`the store did not answer within ${ms} ms`)
  }
}

/**
 * `promise`, or a StoreTimeoutError when it has not settled `ms` after the call left this process
 * (`sent`, when its write was held back: see PhaseWriteBatch; at once otherwise). The timer firing
 * is not proof of a slow store: on a busy event loop the reply may already sit in the socket,
 * unread, and a plain timeout would refuse a request Redis answered in a millisecond. So the
 * verdict waits for the loop's next I/O poll (setImmediate runs after it) before calling it late.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, sent?: Promise<void>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const start = () => {
      if (settled) return
      timer = setTimeout(() => {
        setImmediate(() => {
          if (settled) return
          settled = true
          reject(new StoreTimeoutError(ms))
        })
      }, ms)
    }
    if (sent) void sent.then(start)
    else start()
    promise.then(
      (value) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}
