import type { Clock } from '../lib/clock.js'
import { LruMap } from '../lib/lru-map.js'
import { BudgetLedger } from './budget-ledger.js'
import type { Amounts, BudgetCounter, Charge, CounterState, LeaseRef, LockRef, ReserveResult, Store } from './store.js'

type Entry = { value: string; expiresAt: number; bytes: number }

/**
 * The single-node default: cache entries and locks in an LRU bounded in bytes (UTF-16 length x2 is
 * what V8 holds for a string), so a flood of large entries evicts old ones instead of exhausting
 * memory; budget counters in a ledger of their own, which nothing evicts.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  private readonly entries = new LruMap<Entry>()
  private readonly ledger: BudgetLedger
  private usedBytes = 0

  constructor(
    private readonly maxBytes: number,
    private readonly clock: Clock,
  ) {
    this.ledger = new BudgetLedger(clock)
  }

  get bytes(): number {
    return this.usedBytes
  }

  get budgetCounterCount(): number {
    return this.ledger.size
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.put(key, value, ttlMs)
  }

  peek(key: string): string | null {
    return this.live(key)?.value ?? null
  }

  async lookup(key: string, lock?: LockRef): Promise<{ value: string | null; locked: boolean }> {
    const value = this.live(key)?.value ?? null
    if (value !== null || !lock) return { value, locked: false }
    return { value, locked: await this.setIfAbsent(lock.key, lock.token, lock.ttlMs) }
  }

  async storeAndRelease(key: string, value: string | undefined, ttlMs: number, lock?: LockRef): Promise<void> {
    if (value !== undefined) this.put(key, value, ttlMs)
    if (lock) await this.deleteIfEquals(lock.key, lock.token)
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false
    this.put(key, value, ttlMs)
    return true
  }

  async extendIfEquals(key: string, value: string, ttlMs: number): Promise<boolean> {
    const entry = this.live(key)
    if (entry?.value !== value) return false
    entry.expiresAt = this.clock.now() + ttlMs
    return true
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    const entry = this.entries.peek(key)
    if (entry?.value === value) this.remove(key, entry)
  }

  async reserve(leaseId: string, counters: readonly BudgetCounter[], amounts: Amounts, leaseMs: number): Promise<ReserveResult> {
    return this.ledger.reserve(leaseId, counters, amounts, leaseMs)
  }

  async settle(lease: LeaseRef, actual: Amounts): Promise<void> {
    this.ledger.settle(lease, actual)
  }

  async renew(leases: readonly LeaseRef[], leaseMs: number): Promise<void> {
    this.ledger.renew(leases, leaseMs)
  }

  async charge(charges: readonly Charge[]): Promise<void> {
    this.ledger.charge(charges)
  }

  async read(counterKeys: readonly string[]): Promise<CounterState[]> {
    return this.ledger.read(counterKeys)
  }

  async ping(): Promise<boolean> {
    return true
  }

  async close(): Promise<void> {
    this.entries.clear()
    this.ledger.clear()
    this.usedBytes = 0
  }

  /** The live entry, moved to the most recent end; expired ones are dropped. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.peek(key)
    if (!entry) return undefined
    if (entry.expiresAt <= this.clock.now()) {
      this.remove(key, entry)
      return undefined
    }
    this.entries.touch(key)
    return entry
  }

  private put(key: string, value: string, ttlMs: number): void {
    const bytes = 2 * (key.length + value.length)
    const previous = this.entries.peek(key)
    if (previous) this.remove(key, previous)
    if (bytes > this.maxBytes) return
    while (this.usedBytes + bytes > this.maxBytes) this.evictOldest()
    this.entries.set(key, { value, expiresAt: this.clock.now() + ttlMs, bytes })
    this.usedBytes += bytes
  }

  private evictOldest(): void {
    const oldest = this.entries.oldest()
    if (oldest) this.remove(oldest.key, oldest.value)
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    this.usedBytes -= entry.bytes
  }
}
