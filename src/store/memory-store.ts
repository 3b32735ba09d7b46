import type { Clock } from '../lib/clock.js'
import type { BudgetCounter, ReserveResult, Store } from './store.js'

type Entry = { value: string; expiresAt: number; bytes: number }

/**
 * The single-node default: an LRU bounded in bytes (UTF-16 length x2 is what V8 holds for a string),
 * so a flood of large entries evicts old ones instead of exhausting memory.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  private readonly entries = new Map<string, Entry>() // insertion order = recency order
  /**
   * Budget counters live apart from the LRU: evicting one would hand its key a fresh budget. Their
   * number is bounded by config (keys x windows), and expired ones go when next touched.
   */
  private readonly budgetCounters = new Map<string, { value: number; expiresAt: number }>()
  private countersAfterSweep = 0
  private usedBytes = 0

  constructor(
    private readonly maxBytes: number,
    private readonly clock: Clock,
  ) {}

  get bytes(): number {
    return this.usedBytes
  }

  async get(key: string): Promise<string | null> {
    return this.peek(key)
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.put(key, value, ttlMs)
  }

  /** The live entry, moved to the most recent end; expired ones are dropped. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= this.clock.now()) {
      this.remove(key, entry)
      return undefined
    }
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry
  }

  private peek(key: string): string | null {
    return this.live(key)?.value ?? null
  }

  private put(key: string, value: string, ttlMs: number): void {
    const bytes = 2 * (key.length + value.length)
    const previous = this.entries.get(key)
    if (previous) this.remove(key, previous)
    if (bytes > this.maxBytes) return
    while (this.usedBytes + bytes > this.maxBytes) this.evictOldest()
    this.entries.set(key, { value, expiresAt: this.clock.now() + ttlMs, bytes })
    this.usedBytes += bytes
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if ((await this.get(key)) !== null) return false
    await this.set(key, value, ttlMs)
    return true
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    const entry = this.entries.get(key)
    if (entry?.value === value) this.remove(key, entry)
  }

  // Check-and-add runs without an await in between: on one event loop that is atomic.
  async reserve(counters: readonly BudgetCounter[], amount: number): Promise<ReserveResult> {
    this.sweepCountersNowAndThen()
    const used = counters.map((counter) => this.counter(counter.key)?.value ?? 0)
    const over = counters.findIndex((counter, i) => (used[i] as number) + amount > counter.limit)
    if (over >= 0) return { ok: false, index: over, used: used[over] as number }
    counters.forEach((counter, i) => {
      const existing = this.counter(counter.key)
      if (existing) existing.value += amount
      else this.budgetCounters.set(counter.key, { value: (used[i] as number) + amount, expiresAt: this.clock.now() + counter.ttlMs })
    })
    return { ok: true, totals: used.map((u) => u + amount) }
  }

  async adjust(keys: readonly string[], delta: number): Promise<void> {
    for (const key of keys) {
      const existing = this.counter(key)
      if (existing) existing.value += delta
    }
  }

  /**
   * Each window opens a new counter (a minute budget, one a minute), and a past window's counter
   * is never touched again: drop the expired ones whenever the map has doubled since the last
   * sweep, so it stays proportional to the live ones at amortised constant cost.
   */
  private sweepCountersNowAndThen(): void {
    if (this.budgetCounters.size < Math.max(64, 2 * this.countersAfterSweep)) return
    const now = this.clock.now()
    for (const [key, counter] of this.budgetCounters) if (counter.expiresAt <= now) this.budgetCounters.delete(key)
    this.countersAfterSweep = this.budgetCounters.size
  }

  get budgetCounterCount(): number {
    return this.budgetCounters.size
  }

  private counter(key: string): { value: number; expiresAt: number } | undefined {
    const counter = this.budgetCounters.get(key)
    if (counter && counter.expiresAt <= this.clock.now()) {
      this.budgetCounters.delete(key)
      return undefined
    }
    return counter
  }

  async ping(): Promise<boolean> {
    return true
  }

  async close(): Promise<void> {
    this.entries.clear()
    this.budgetCounters.clear()
    this.usedBytes = 0
  }

  private evictOldest(): void {
    const oldest = this.entries.entries().next()
    if (oldest.done) return
    this.remove(oldest.value[0], oldest.value[1])
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    this.usedBytes -= entry.bytes
  }
}
