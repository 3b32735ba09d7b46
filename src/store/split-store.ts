import type { Amounts, BudgetCounter, Charge, CounterState, LeaseRef, LockRef, ReserveResult, Store } from './store.js'

/**
 * Budgets on one store, the response cache on another: budget counters want a Redis that never
 * evicts and persists (noeviction, AOF), a cache wants one that evicts under memory pressure.
 */
export class SplitStore implements Store {
  readonly kind = 'redis'

  constructor(
    private readonly budgets: Store,
    private readonly cache: Store,
  ) {}

  reserve(leaseId: string, counters: readonly BudgetCounter[], amounts: Amounts, leaseMs: number): Promise<ReserveResult> {
    return this.budgets.reserve(leaseId, counters, amounts, leaseMs)
  }
  settle(lease: LeaseRef, actual: Amounts): Promise<void> {
    return this.budgets.settle(lease, actual)
  }
  renew(leases: readonly LeaseRef[], leaseMs: number): Promise<void> {
    return this.budgets.renew(leases, leaseMs)
  }
  charge(charges: readonly Charge[]): Promise<void> {
    return this.budgets.charge(charges)
  }
  read(counterKeys: readonly string[]): Promise<CounterState[]> {
    return this.budgets.read(counterKeys)
  }

  get(key: string): Promise<string | null> {
    return this.cache.get(key)
  }
  lookup(key: string, lock?: LockRef): Promise<{ value: string | null; locked: boolean }> {
    return this.cache.lookup(key, lock)
  }
  storeAndRelease(key: string, value: string | undefined, ttlMs: number, lock?: LockRef): Promise<void> {
    return this.cache.storeAndRelease(key, value, ttlMs, lock)
  }
  set(key: string, value: string, ttlMs: number): Promise<void> {
    return this.cache.set(key, value, ttlMs)
  }
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.cache.setIfAbsent(key, value, ttlMs)
  }
  extendIfEquals(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.cache.extendIfEquals(key, value, ttlMs)
  }
  deleteIfEquals(key: string, value: string): Promise<void> {
    return this.cache.deleteIfEquals(key, value)
  }

  /** Ready only when both answer: a request needs both. */
  async ping(): Promise<boolean> {
    const [budgets, cache] = await Promise.all([this.budgets.ping(), this.cache.ping()])
    return budgets && cache
  }
  async close(): Promise<void> {
    await Promise.all([this.budgets.close(), this.cache.close()])
  }
}
