import { randomUUID } from 'node:crypto'
import type { Clock } from '../lib/clock.js'
import type { CacheStore } from '../store/store.js'
import type { CachedCompletion } from './entry.js'

export type ReplicaLockOptions = { lockTtlMs: number; waitMs: number; pollMs: number }

/** Asking the backend is this replica's job (release when done), or another replica's answer is here. */
export type Claim = { kind: 'lead'; release: () => Promise<void> } | { kind: 'answer'; entry: CachedCompletion } | { kind: 'alone' }

/**
 * Single flight across replicas: a lock per cache key, held as a short lease (SET NX PX) that its
 * leader renews while the backend works. The replica that takes it asks the backend; the others
 * poll the cache for its answer. Every way out is safe and bounded: a leader that dies or is cut
 * off stops renewing, so its lock is gone within one lease and a waiter takes over; a claim whose
 * reply was lost (it may have taken the lock) is released by its own random token; a waiter that
 * runs out of patience, or any store error, just asks the backend itself (`alone`): the worst case
 * is a duplicate backend call, never a wrong or lost answer, nor a wait on a lock nobody holds.
 */
export class ReplicaLock {
  constructor(
    private readonly store: CacheStore,
    private readonly read: (key: string) => Promise<CachedCompletion | undefined>,
    private readonly options: ReplicaLockOptions,
    private readonly clock: Clock,
  ) {}

  async claim(key: string, signal: AbortSignal): Promise<Claim> {
    const lockKey = `${key}:lock`
    try {
      const first = await this.lead(key, lockKey)
      if (first) return first
      const deadline = this.clock.now() + this.options.waitMs
      while (this.clock.now() < deadline && !signal.aborted) {
        await pause(this.options.pollMs, signal)
        const entry = await this.read(key)
        if (entry) return { kind: 'answer', entry }
        if ((await this.store.get(lockKey)) === null) {
          // The leader let go: with an answer (lead() finds it) or without one (it failed, died or
          // was cut off, and its lease ran out), and then one waiter takes over.
          const next = await this.lead(key, lockKey)
          if (next) return next
        }
      }
    } catch {
      // Store trouble: coordination is an optimisation, the request goes on without it.
    }
    return { kind: 'alone' }
  }

  /** Takes the lock if it is free; undefined when another replica holds it. */
  private async lead(key: string, lockKey: string): Promise<Claim | undefined> {
    const token = randomUUID()
    let taken: boolean
    try {
      taken = await this.store.setIfAbsent(lockKey, token, this.options.lockTtlMs)
    } catch (err) {
      this.forget(lockKey, token) // it may have been taken all the same
      throw err
    }
    if (!taken) return undefined
    const renewal = setInterval(() => void this.renew(lockKey, token, renewal), Math.max(1, Math.floor(this.options.lockTtlMs / 3)))
    renewal.unref()
    const release = async () => {
      clearInterval(renewal)
      await this.store.deleteIfEquals(lockKey, token).catch(() => this.forget(lockKey, token))
    }
    // A leader stores its answer before it lets go of the lock, so with the lock in hand, look
    // again: another replica may have answered and released it since this request missed.
    const answered = await this.read(key)
    if (answered) {
      await release()
      return { kind: 'answer', entry: answered }
    }
    return { kind: 'lead', release }
  }

  private async renew(lockKey: string, token: string, renewal: NodeJS.Timeout): Promise<void> {
    try {
      if (!(await this.store.extendIfEquals(lockKey, token, this.options.lockTtlMs))) clearInterval(renewal) // lost it: stop
    } catch {
      // Store trouble: try again next tick; if it lasts a whole lease the lock lapses, as it should.
    }
  }

  /** Releases a lock this replica may hold but could not confirm: a few tries, then its lease runs out on its own. */
  private forget(lockKey: string, token: string, attempt = 0): void {
    this.store.deleteIfEquals(lockKey, token).catch(() => {
      if (attempt < 3) setTimeout(() => this.forget(lockKey, token, attempt + 1), this.options.lockTtlMs / 4).unref()
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
