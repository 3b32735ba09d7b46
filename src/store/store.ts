/**
 * What the gateway keeps outside a request: response-cache entries and their locks, and budget
 * counters. Two implementations: Redis (shared by replicas; a single server or a cluster) and the
 * embedded in-memory store (single node). Every call is bounded in time, so a slow store never
 * hangs a request; a call that times out may still have run, so every write here is idempotent
 * (keyed by a lease or lock owner) or compensable.
 */

/** A budget counter to reserve against: its key, its limit, and how long it lives once created (its window, plus a grace). */
export type BudgetCounter = Readonly<{ key: string; limit: number; ttlMs: number }>

/**
 * All reserved, with each counter's total after the reservation (for remaining-token headers), or
 * the first counter (by index) that would have passed its limit, and its usage.
 */
export type ReserveResult = { ok: true; totals: number[] } | { ok: false; index: number; used: number }

/**
 * What a reservation or settlement adds to its counters: one amount for every counter, or one per
 * counter, in the counters' order. A request's counters may count different things (tokens for a
 * token budget, micro-dollars for a money one), each in whole units, so Redis adds them exactly.
 */
export type Amounts = number | readonly number[]

/** The amount for the counter at `index`. */
export const amountAt = (amounts: Amounts, index: number): number => (typeof amounts === 'number' ? amounts : (amounts[index] ?? 0))

/** An amount to add to one counter, in its unit (tokens or micro-dollars). */
export type Charge = Readonly<{ counter: BudgetCounter; amount: number }>

/** A counter as read back: usage settled for good, and what live leases hold. */
export type CounterState = Readonly<{ settled: number; reserved: number }>

/** A live lease and the counters it holds. */
export type LeaseRef = Readonly<{ id: string; counterKeys: readonly string[] }>

/**
 * Budget counters with leases. A counter's usage is `settled + reserved`, where `reserved` is the
 * sum of its live leases. A lease ends in one of two ways: settled (its amount leaves `reserved`
 * and the actual cost joins `settled`), or expired (its holder died or lost the store: the amount
 * leaves `reserved`, and a settle that still arrives within a grace adds the actual cost).
 */
export interface BudgetStore {
  /**
   * Adds a lease of `amounts` to the counters (each its own, or one for all), all or nothing: if
   * any would pass its limit none changes. One atomic step, so concurrent requests on every replica can never overspend
   * together. Idempotent by `leaseId`: a repeated call (its reply was lost) reserves nothing more.
   * The lease expires `leaseMs` from now, by the store's own clock, unless renewed.
   */
  reserve(leaseId: string, counters: readonly BudgetCounter[], amounts: Amounts, leaseMs: number): Promise<ReserveResult>
  /**
   * Ends a lease with its actual cost, per counter in `lease.counterKeys` order or one for all (0 to
   * give it all back). Idempotent: a repeat changes nothing.
   */
  settle(lease: LeaseRef, actual: Amounts): Promise<void>
  /** Moves live leases' expiry to `leaseMs` from now; an expired or settled lease stays gone. */
  renew(leases: readonly LeaseRef[], leaseMs: number): Promise<void>
  /**
   * Adds usage that had no lease (charged cache hits), past any limit: the next request sees it.
   * The counters of one call share a hash tag (a team), as in `reserve`.
   */
  charge(charges: readonly Charge[]): Promise<void>
  /** The counters' state, for the usage API and tests; a counter that does not exist reads as zero. */
  read(counterKeys: readonly string[]): Promise<CounterState[]>
}

/** A cache lock to take or release along with an entry: its key, this holder's token, its lease. */
export type LockRef = Readonly<{ key: string; token: string; ttlMs: number }>

/** Response-cache entries and the locks (leases) that let one replica answer for all. */
export interface CacheStore {
  /**
   * The entry at `key`; when there is none and `lock` is given, also try to take the lock, in the
   * same step (one round trip: a miss and its claim cannot be split by another replica's answer).
   */
  lookup(key: string, lock?: LockRef): Promise<{ value: string | null; locked: boolean }>
  /**
   * The entry at `key` at once, with no promise: only a store that holds its entries in this
   * process (the memory store) has it; one behind a network round trip (Redis) does not.
   */
  peek?(key: string): string | null
  /** Store the entry (when there is one) and release the lock if it is still this holder's, in one step. */
  storeAndRelease(key: string, value: string | undefined, ttlMs: number, lock?: LockRef): Promise<void>
  get(key: string): Promise<string | null>
  /** Store with a time to live. Rejects when the store cannot be reached; callers decide what that means. */
  set(key: string, value: string, ttlMs: number): Promise<void>
  /** Store only if the key is absent (a lock); resolves true when this call stored it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>
  /** Extend the key's time to live only while it still holds `value` (renew one's own lock); false when it does not. */
  extendIfEquals(key: string, value: string, ttlMs: number): Promise<boolean>
  /** Delete the key only while it still holds `value`: releases one's own lock, never a successor's. */
  deleteIfEquals(key: string, value: string): Promise<void>
}

export interface Store extends BudgetStore, CacheStore {
  readonly kind: 'memory' | 'redis'
  /** Reachability, for /readyz and the redis_up gauge. */
  ping(): Promise<boolean>
  close(): Promise<void>
}
