import type { Clock } from '../lib/clock.js'
import { amountAt, type Amounts, type BudgetCounter, type Charge, type CounterState, type LeaseRef, type ReserveResult } from './store.js'

/**
 * How long a lease that expired unsettled is remembered, so that its settle, arriving late (the
 * store was unreachable for a while), still counts its actual cost, once. Past this, a settle of
 * that lease changes nothing: the cost is lost rather than counted twice.
 */
export const LATE_SETTLE_WINDOW_MS = 15 * 60_000

type Lease = { amount: number; expiresAt: number }
type Counter = {
  settled: number
  reserved: number
  leases: Map<string, Lease>
  /** Leases that expired unsettled → when they expired. */
  late: Map<string, number>
  /** No lease expires before this: a purge before then would find nothing. */
  nextExpiry: number
  expiresAt: number
}

/**
 * Budget counters with leases, in memory: the reference for what the Redis scripts do. Every
 * method runs without an await, so on one event loop each is atomic. Counters live apart from
 * any cache LRU (evicting one would hand its key a fresh budget), until their window has passed.
 */
export class BudgetLedger {
  private readonly counters = new Map<string, Counter>()
  private countAfterSweep = 0

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.counters.size
  }

  reserve(leaseId: string, counters: readonly BudgetCounter[], amounts: Amounts, leaseMs: number): ReserveResult {
    this.sweepNowAndThen()
    const now = this.clock.now()
    const expiresAt = now + leaseMs
    const live = counters.map((c) => this.live(c.key, now))
    const totals = () => live.map((c) => (c ? c.settled + c.reserved : 0))
    if (live[0]?.leases.has(leaseId)) return { ok: true, totals: totals() } // a repeated call: reserved already
    const used = totals()
    const over = counters.findIndex((counter, i) => (used[i] ?? 0) + amountAt(amounts, i) > counter.limit)
    if (over >= 0) return { ok: false, index: over, used: used[over] ?? 0 }
    counters.forEach((spec, i) => {
      const counter = live[i] ?? this.create(spec, now)
      const amount = amountAt(amounts, i)
      counter.leases.set(leaseId, { amount, expiresAt })
      counter.reserved += amount
      counter.nextExpiry = Math.min(counter.nextExpiry, expiresAt)
      live[i] = counter
    })
    return { ok: true, totals: totals() }
  }

  settle(lease: LeaseRef, actual: Amounts): void {
    const now = this.clock.now()
    lease.counterKeys.forEach((key, i) => {
      const counter = this.live(key, now)
      if (!counter) return
      const held = counter.leases.get(lease.id)
      if (held) {
        counter.leases.delete(lease.id)
        counter.reserved -= held.amount
        counter.settled += amountAt(actual, i)
      } else if (counter.late.delete(lease.id)) {
        counter.settled += amountAt(actual, i)
      }
    })
  }

  renew(leases: readonly LeaseRef[], leaseMs: number): void {
    const now = this.clock.now()
    const expiresAt = now + leaseMs
    for (const lease of leases) {
      for (const key of lease.counterKeys) {
        const counter = this.live(key, now)
        const held = counter?.leases.get(lease.id)
        if (!counter || !held) continue
        held.expiresAt = expiresAt
        counter.nextExpiry = Math.min(counter.nextExpiry, expiresAt)
      }
    }
  }

  charge(charges: readonly Charge[]): void {
    const now = this.clock.now()
    for (const { counter, amount } of charges) (this.live(counter.key, now) ?? this.create(counter, now)).settled += amount
  }

  read(keys: readonly string[]): CounterState[] {
    const now = this.clock.now()
    return keys.map((key) => {
      const counter = this.live(key, now)
      return { settled: counter?.settled ?? 0, reserved: counter?.reserved ?? 0 }
    })
  }

  clear(): void {
    this.counters.clear()
  }

  private create(spec: BudgetCounter, now: number): Counter {
    const counter: Counter = {
      settled: 0,
      reserved: 0,
      leases: new Map(),
      late: new Map(),
      nextExpiry: Number.POSITIVE_INFINITY,
      expiresAt: now + spec.ttlMs,
    }
    this.counters.set(spec.key, counter)
    return counter
  }

  /** The counter while its window lasts, with its expired leases moved out of `reserved`. */
  private live(key: string, now: number): Counter | undefined {
    const counter = this.counters.get(key)
    if (!counter) return undefined
    if (counter.expiresAt <= now) {
      this.counters.delete(key)
      return undefined
    }
    if (counter.nextExpiry <= now) expireLeases(counter, now)
    forgetLateLeases(counter, now)
    return counter
  }

  /**
   * Each window opens a new counter (a minute budget, one a minute), and a past window's counter
   * is never touched again: drop the expired ones whenever the map has doubled since the last
   * sweep, so it stays proportional to the live ones at amortised constant cost.
   */
  private sweepNowAndThen(): void {
    if (this.counters.size < Math.max(64, 2 * this.countAfterSweep)) return
    const now = this.clock.now()
    for (const [key, counter] of this.counters) if (counter.expiresAt <= now) this.counters.delete(key)
    this.countAfterSweep = this.counters.size
  }
}

function expireLeases(counter: Counter, now: number): void {
  let next = Number.POSITIVE_INFINITY
  for (const [id, lease] of counter.leases) {
    if (lease.expiresAt <= now) {
      counter.leases.delete(id)
      counter.reserved -= lease.amount
      counter.late.set(id, now)
    } else {
      next = Math.min(next, lease.expiresAt)
    }
  }
  counter.nextExpiry = next
}

/** Past the late window an expired lease is forgotten, whether or not another lease expired since. */
function forgetLateLeases(counter: Counter, now: number): void {
  for (const [id, expiredAt] of counter.late) if (expiredAt + LATE_SETTLE_WINDOW_MS <= now) counter.late.delete(id)
}
