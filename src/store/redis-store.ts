import type { Logger } from 'pino'
import { LATE_SETTLE_WINDOW_MS } from './budget-ledger.js'
import { withDeadline } from './deadline.js'
import { PhaseWriteBatch } from './phase-write-batch.js'
import { createRedisClient, socketsOf, type RedisClient, type RedisClientOptions } from './redis-client.js'
import { counterKeys } from './redis-scripts.js'
import {
  amountAt,
  type Amounts,
  type BudgetCounter,
  type Charge,
  type CounterState,
  type LeaseRef,
  type LockRef,
  type ReserveResult,
  type Store,
} from './store.js'

export type RedisStoreOptions = Omit<RedisClientOptions, 'commandTimeoutMs' | 'clusterNodes'> & {
  clusterNodes?: readonly string[]
  /** Longest a request waits for Redis on any one call (`redis.commandTimeoutMs`). */
  commandTimeoutMs: number
  log: Logger
  /** Told of every round trip, for the store_round_trips_total metric. */
  onRoundTrip?: (step: 'cache' | 'budget' | 'health', operation: string) => void
}

/**
 * The store on Redis, shared by replicas: one server or a cluster (every multi-key call keeps its
 * keys in one hash slot). Every call is bounded by `commandTimeoutMs`; one that times out may
 * still run on the server, which is why every write is idempotent or compensable by its caller.
 */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly client: RedisClient
  private readonly writes: PhaseWriteBatch
  private failing = false

  constructor(private readonly options: RedisStoreOptions) {
    this.client = createRedisClient({
      url: options.url,
      clusterNodes: options.clusterNodes ?? [],
      connectTimeoutMs: options.connectTimeoutMs,
      // ioredis's own timeout is only a backstop, so replies to a frozen server do not pile up for ever.
      commandTimeoutMs: Math.max(1_000, 20 * options.commandTimeoutMs),
    })
    this.writes = new PhaseWriteBatch(() => socketsOf(this.client))
    // One log line per episode of trouble, not one per failed command.
    this.client.on('error', (err: Error) => {
      this.noteFailure(err)
    })
    this.client.on('ready', () => {
      if (this.failing) options.log.info('redis reachable again')
      this.failing = false
    })
  }

  /** Issues one call (held for this phase's write, see PhaseWriteBatch) and bounds its wait. */
  private bounded<T>(issue: () => Promise<T>, step: 'cache' | 'budget' | 'health', operation: string): Promise<T> {
    this.options.onRoundTrip?.(step, operation)
    const sent = this.writes.hold()
    return withDeadline(issue(), this.options.commandTimeoutMs, sent)
  }

  async get(key: string): Promise<string | null> {
    return this.bounded(() => this.client.get(key), 'cache', 'get')
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.bounded(() => this.client.set(key, value, 'PX', millis(ttlMs)), 'cache', 'set')
  }

  async lookup(key: string, lock?: LockRef): Promise<{ value: string | null; locked: boolean }> {
    const reply = (await this.bounded(
      () => (lock ? this.client.cacheLookup(2, key, lock.key, lock.token, millis(lock.ttlMs)) : this.client.cacheLookup(1, key)),
      'cache',
      lock ? 'lookup_or_lock' : 'lookup',
    )) as [number, string, number]
    return { value: reply[0] === 1 ? reply[1] : null, locked: reply[2] === 1 }
  }

  async storeAndRelease(key: string, value: string | undefined, ttlMs: number, lock?: LockRef): Promise<void> {
    const args = [value === undefined ? '0' : '1', value ?? '', millis(ttlMs)]
    await this.bounded(
      () =>
        lock ? this.client.cacheStoreAndRelease(2, key, lock.key, ...args, lock.token) : this.client.cacheStoreAndRelease(1, key, ...args),
      'cache',
      lock ? 'store_and_unlock' : 'store',
    )
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.bounded(() => this.client.set(key, value, 'PX', millis(ttlMs), 'NX'), 'cache', 'lock')) === 'OK'
  }

  async extendIfEquals(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.bounded(() => this.client.lockExtend(1, key, value, millis(ttlMs)), 'cache', 'lock_renew')) === 1
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    await this.bounded(() => this.client.lockDelete(1, key, value), 'cache', 'unlock')
  }

  async reserve(leaseId: string, counters: readonly BudgetCounter[], amounts: Amounts, leaseMs: number): Promise<ReserveResult> {
    const keys = counters.flatMap((c) => counterKeys(c.key))
    const args = [
      leaseId,
      millis(leaseMs),
      LATE_SETTLE_WINDOW_MS,
      ...counters.flatMap((c, i) => [Math.round(amountAt(amounts, i)), c.limit, millis(c.ttlMs)]),
    ]
    const result = (await this.bounded(() => this.client.budgetReserve(keys.length, ...keys, ...args), 'budget', 'reserve')) as number[]
    if (result[0] === 1) return { ok: true, totals: result.slice(1).map(Number) }
    return { ok: false, index: Number(result[1]), used: Number(result[2]) }
  }

  async settle(lease: LeaseRef, actual: Amounts): Promise<void> {
    if (lease.counterKeys.length === 0) return
    const keys = lease.counterKeys.flatMap(counterKeys)
    const actuals = lease.counterKeys.map((_key, i) => Math.round(amountAt(actual, i)))
    await this.bounded(() => this.client.budgetSettle(keys.length, ...keys, lease.id, ...actuals), 'budget', 'settle')
  }

  async renew(leases: readonly LeaseRef[], leaseMs: number): Promise<void> {
    // One call per leases set: each set is one counter, so one slot, whatever the cluster.
    const idsBySet = new Map<string, string[]>()
    for (const lease of leases) {
      for (const key of lease.counterKeys) {
        const set = counterKeys(key)[1]
        idsBySet.set(set, [...(idsBySet.get(set) ?? []), lease.id])
      }
    }
    await Promise.all(
      [...idsBySet].map(([set, ids]) => this.bounded(() => this.client.budgetRenew(1, set, millis(leaseMs), ...ids), 'budget', 'renew')),
    )
  }

  async charge(charges: readonly Charge[]): Promise<void> {
    if (charges.length === 0) return
    const keys = charges.map((c) => c.counter.key)
    const args = charges.flatMap((c) => [Math.round(c.amount), millis(c.counter.ttlMs)])
    await this.bounded(() => this.client.budgetCharge(keys.length, ...keys, ...args), 'budget', 'charge')
  }

  async read(keys: readonly string[]): Promise<CounterState[]> {
    if (keys.length === 0) return []
    const all = keys.flatMap(counterKeys)
    const values = (await this.bounded(
      () => this.client.budgetRead(all.length, ...all, LATE_SETTLE_WINDOW_MS),
      'budget',
      'read',
    )) as number[]
    return keys.map((_key, i) => ({ settled: Number(values[2 * i]), reserved: Number(values[2 * i + 1]) }))
  }

  async ping(): Promise<boolean> {
    try {
      await this.bounded(() => this.client.ping(), 'health', 'ping')
      return true
    } catch (err) {
      this.noteFailure(err as Error)
      return false
    }
  }

  async close(): Promise<void> {
    this.client.disconnect()
  }

  noteFailure(err: Error): void {
    if (this.failing) return
    this.failing = true
    // The URL may carry a password: log only the error's code and message, never the options.
    this.options.log.warn({ code: (err as NodeJS.ErrnoException).code, message: err.message }, 'redis unavailable')
  }
}

/** Redis takes whole, positive milliseconds. */
function millis(ms: number): number {
  return Math.max(1, Math.round(ms))
}
