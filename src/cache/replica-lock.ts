import type { Clock } from '../lib/clock.js'
import type { Store } from '../store/store.js'
import type { CachedCompletion } from './entry.js'

export type ReplicaLockOptions = { lockTtlMs: number; waitMs: number; pollMs: number }

/** Asking the backend is this replica's job (release when done), or another replica's answer is here. */
export type Claim = { kind: 'lead'; release: () => Promise<void> } | { kind: 'answer'; entry: CachedCompletion } | { kind: 'alone' }

/**
 * Single flight across replicas, kept simple: a short Redis lock per cache key (SET NX PX). The
 * replica that takes it asks the backend; the others poll the cache for its answer. Every way out
 * is safe: the lock expires by itself if its holder dies, a waiter whose leader gave up (lock gone,
 * no answer) takes over, and a waiter that runs out of patience, or any store error, just asks the
 * backend itself (`alone`): the worst case is a duplicate backend call, never a wrong or lost answer.
 */
export class ReplicaLock {
  constructor(
    private readonly store: Store,
    private readonly read: (key: string) => Promise<CachedCompletion | undefined>,
    private readonly options: ReplicaLockOptions,
    private readonly clock: Clock,
  ) {}

  async claim(key: string, owner: string, signal: AbortSignal): Promise<Claim> {
    const lockKey = `${key}:lock`
    const lead = async (): Promise<Claim | undefined> => {
      if (!(await this.store.setIfAbsent(lockKey, owner, this.options.lockTtlMs))) return undefined
      const release = () => this.store.deleteIfEquals(lockKey, owner).catch(() => undefined)
      // A leader stores its answer before it lets go of the lock, so with the lock in hand, look
      // again: another replica may have answered and released it since this request missed.
      const answered = await this.read(key)
      if (answered) {
        await release()
        return { kind: 'answer', entry: answered }
      }
      return { kind: 'lead', release }
    }
    try {
      const first = await lead()
      if (first) return first
      const deadline = this.clock.now() + this.options.waitMs
      while (this.clock.now() < deadline && !signal.aborted) {
        await pause(this.options.pollMs, signal)
        const entry = await this.read(key)
        if (entry) return { kind: 'answer', entry }
        if ((await this.store.get(lockKey)) === null) {
          // The leader let go: with an answer (lead() finds it) or without one (it failed or
          // died), and then one waiter takes over.
          const next = await lead()
          if (next) return next
        }
      }
    } catch {
      // Store trouble: coordination is an optimisation, the request goes on without it.
    }
    return { kind: 'alone' }
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
