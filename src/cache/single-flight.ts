/**
 * Identical cache misses in one process share one backend call: the first request leads, later
 * ones wait for its result. A leader that ends without a cacheable answer resolves `undefined`,
 * and its followers then go to the backend themselves rather than fail.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T | undefined>>()

  get size(): number {
    return this.flights.size
  }

  /** The flight already under way for `key`, if any. */
  join(key: string): Promise<T | undefined> | undefined {
    return this.flights.get(key)
  }

  /** Start a flight; `land` must be called exactly once (later calls are ignored). */
  lead(key: string): { land(result: T | undefined): void } {
    let resolve!: (result: T | undefined) => void
    const flight = new Promise<T | undefined>((r) => (resolve = r))
    this.flights.set(key, flight)
    let landed = false
    return {
      land: (result) => {
        if (landed) return
        landed = true
        if (this.flights.get(key) === flight) this.flights.delete(key)
        resolve(result)
      },
    }
  }
}

/** `promise`, or undefined as soon as `signal` aborts (a waiting client that went away). */
export function unlessAborted<T>(promise: Promise<T | undefined>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined)
    signal.addEventListener('abort', onAbort, { once: true })
    const settle = (value: T | undefined) => {
      signal.removeEventListener('abort', onAbort)
      resolve(value)
    }
    promise.then(settle, () => settle(undefined))
  })
}
