export type Release = () => void

type Waiter = { amount: number; grant: () => void }

/**
 * A capacity shared by everyone (bytes held, downloads running). `acquire` resolves with a release
 * function once `amount` fits, in arrival order; a caller who cannot be served within `waitMs`, or
 * whose `signal` aborts first, gets `undefined` and should shed load instead of queueing without bound.
 */
export class WeightedSemaphore {
  private used = 0
  private readonly waiters: Waiter[] = []

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used
  }

  acquire(amount: number, waitMs: number, signal?: AbortSignal): Promise<Release | undefined> {
    if (signal?.aborted) return Promise.resolve(undefined)
    const need = Math.min(Math.max(0, amount), this.capacity)
    if (this.waiters.length === 0 && this.used + need <= this.capacity) return Promise.resolve(this.take(need))
    if (waitMs <= 0) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        amount: need,
        grant: () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', giveUp)
          resolve(this.take(need))
        },
      }
      const giveUp = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', giveUp)
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        resolve(undefined)
        this.grantWaiting() // a large waiter giving up may let smaller ones behind it in
      }
      const timer = setTimeout(giveUp, waitMs)
      signal?.addEventListener('abort', giveUp, { once: true })
      this.waiters.push(waiter)
    })
  }

  private take(amount: number): Release {
    this.used += amount
    let released = false
    return () => {
      if (released) return
      released = true
      this.used -= amount
      this.grantWaiting()
    }
  }

  private grantWaiting(): void {
    let next = this.waiters[0]
    while (next && this.used + next.amount <= this.capacity) {
      this.waiters.shift()
      next.grant()
      next = this.waiters[0]
    }
  }
}
