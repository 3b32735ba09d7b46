import type { Clock } from '../../src/lib/clock.js'
import { MemoryStore } from '../../src/store/memory-store.js'
import type { LockRef } from '../../src/store/store.js'

/**
 * The in-memory store, telling the test when it has been written: the cache stores a miss's answer
 * after the response, when the request's finish event fires, so a test that needs the entry in
 * place (and cannot count on joining the request's single flight) awaits `untilWrites(n)`.
 */
export class WatchedStore extends MemoryStore {
  readonly writes: string[] = []
  private readonly waiters: Array<{ n: number; resolve: () => void }> = []

  constructor(clock: Clock, maxBytes = 16 * 1024 * 1024) {
    super(maxBytes, clock)
  }

  override async storeAndRelease(key: string, value: string | undefined, ttlMs: number, lock?: LockRef): Promise<void> {
    await super.storeAndRelease(key, value, ttlMs, lock)
    if (value === undefined) return
    this.writes.push(key)
    for (const waiter of this.waiters.filter((w) => this.writes.length >= w.n)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }

  /** Resolves once `n` writes have completed. */
  untilWrites(n: number): Promise<void> {
    if (this.writes.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ n, resolve }))
  }
}
