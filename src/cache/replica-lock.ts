import { randomUUID } from 'node:crypto'
import type { Clock } from '../lib/clock.js'
import type { CacheStore, LockRef } from '../store/store.js'
import type { CachedCompletion } from './entry.js'
import type { ResponseCache } from './response-cache.js'

export type ReplicaLockOptions = { lockTtlMs: number; waitMs: number; pollMs: number }

/**
 * Asking the backend is this replica's job (`finish` stores the answer, if any, and lets go of the
 * lock in one round trip), or another replica's answer is here, or this request goes on its own.
 */
export type Claim =
  | { kind: 'lead'; finish: (entry: CachedCompletion | undefined) => Promise<void> }
  | { kind: 'answer'; entry: CachedCompletion }
  | { kind: 'alone' }

/**
 * Single flight across replicas: a lock per cache key, held as a short lease that its leader
 * renews while the backend works. Every look at the cache is also a try for the lock, in one step:
 * the replica that takes it asks the backend; the others look again every `pollMs`. Every way out
 * is safe and bounded: a leader that dies or is cut off stops renewing, so its lock is gone within
 * one lease and a waiter takes over; a claim whose reply was lost (it may have taken the lock) is
 * released by its own random token; a waiter that runs out of patience, or any store error, just
 * asks the backend itself (`alone`): the worst case is a duplicate backend call, never a wrong or
 * lost answer, nor a wait on a lock nobody holds.
 */
export class ReplicaLock {
  constructor(
    private readonly store: Pick<CacheStore, 'extendIfEquals' | 'deleteIfEquals'>,
    private readonly responses: Pick<ResponseCache, 'lookup' | 'storeAndRelease'>,
    private readonly options: ReplicaLockOptions,
    private readonly clock: Clock,
  ) {}

  async claim(key: string, signal: AbortSignal): Promise<Claim> {
    const deadline = this.clock.now() + this.options.waitMs
    for (;;) {
      const lock: LockRef = { key: `${key}:lock`, token: randomUUID(), ttlMs: this.options.lockTtlMs }
      let found
      try {
        found = await this.responses.lookup(key, lock)
      } catch {
        this.forget(lock) // it may have been taken all the same
        return { kind: 'alone' } // store trouble: coordination is an optimisation, the request goes on without it
      }
      if (found.entry) return { kind: 'answer', entry: found.entry }
      if (found.locked) return this.lead(key, lock)
      if (this.clock.now() >= deadline || signal.aborted) return { kind: 'alone' }
      await pause(this.options.pollMs, signal)
    }
  }

  private lead(key: string, lock: LockRef): Claim {
    const renewal = setInterval(() => void this.renew(lock, renewal), Math.max(1, Math.floor(lock.ttlMs / 3)))
    renewal.unref()
    return {
      kind: 'lead',
      finish: async (entry) => {
        clearInterval(renewal)
        // The answer is stored before the lock goes, in the same step: whoever takes the lock next finds it.
        await this.responses.storeAndRelease(key, entry, lock)
      },
    }
  }

  private async renew(lock: LockRef, renewal: NodeJS.Timeout): Promise<void> {
    try {
      if (!(await this.store.extendIfEquals(lock.key, lock.token, lock.ttlMs))) clearInterval(renewal) // lost it: stop
    } catch {
      // Store trouble: try again next tick; if it lasts a whole lease the lock lapses, as it should.
    }
  }

  /** Releases a lock this replica may hold but could not confirm: a few tries, then its lease runs out on its own. */
  private forget(lock: LockRef, attempt = 0): void {
    this.store.deleteIfEquals(lock.key, lock.token).catch(() => {
      if (attempt < 3) setTimeout(() => this.forget(lock, attempt + 1), lock.ttlMs / 4).unref()
    })
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
