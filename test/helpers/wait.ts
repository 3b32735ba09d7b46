/**
 * Bounded waiting, for the few conditions that have no event to await (a key's TTL running out, a
 * gossip protocol converging). Every wait names what it waits for, so a timeout says what never
 * happened instead of "test timed out".
 */

export type WaitOptions = {
  /** Fail after this long. */
  timeoutMs: number
  /** What is awaited, for the failure message: "the lock key to expire". */
  what: string
  /** Pause between two checks; short, since each check is cheap next to a test's timeout. */
  intervalMs?: number
}

/** Checks `condition` until it holds; fails after `timeoutMs` naming `what` (and the last error, if checks threw). */
export async function until(condition: () => boolean | Promise<boolean>, { timeoutMs, what, intervalMs = 10 }: WaitOptions): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      if (await condition()) return
      lastError = undefined
    } catch (err) {
      lastError = err // a server still starting refuses connections: keep checking
    }
    if (Date.now() >= deadline) {
      const why = lastError === undefined ? '' : ` (last check threw: ${messageOf(lastError)})`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** `promise`, or a clear failure naming `what` if it has not settled within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, { timeoutMs, what }: Omit<WaitOptions, 'intervalMs'>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : JSON.stringify(err))
