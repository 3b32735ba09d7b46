/**
 * What the gateway keeps outside a request: the response cache today, budgets next.
 * Two implementations: Redis (shared by replicas) and the embedded in-memory store (single node).
 * Both bound every call in time, so a slow store never hangs a request.
 */
/** A counter to reserve against: its key, its limit, and how long it lives once created. */
export type BudgetCounter = { key: string; limit: number; ttlMs: number }

/**
 * All reserved, with each counter's total after the reservation (for remaining-token headers), or
 * the first counter (by index) that would have passed its limit, and its usage.
 */
export type ReserveResult = { ok: true; totals: number[] } | { ok: false; index: number; used: number }

export interface Store {
  readonly kind: 'memory' | 'redis'
  get(key: string): Promise<string | null>
  /** Store with a time to live. Rejects when the store cannot be reached; callers decide what that means. */
  set(key: string, value: string, ttlMs: number): Promise<void>
  /** Store only if the key is absent (a lock); resolves true when this call stored it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>
  /** Delete the key only while it still holds `value`: releases one's own lock, never a successor's. */
  deleteIfEquals(key: string, value: string): Promise<void>
  /**
   * Adds `amount` to every counter, all or nothing: if any would pass its limit none changes. One
   * atomic step, so concurrent requests (on every replica) can never overspend together.
   */
  reserve(counters: readonly BudgetCounter[], amount: number): Promise<ReserveResult>
  /** Adds `delta` (negative to give back) to those counters that still exist: a window that rolled over is gone. */
  adjust(keys: readonly string[], delta: number): Promise<void>
  /** Reachability, for /readyz and the redis_up gauge. */
  ping(): Promise<boolean>
  close(): Promise<void>
}
