import { describe, expect, it } from 'vitest'
import type { BudgetStore } from '../../src/store/store.js'

export type BudgetStoreUnderTest = {
  store: BudgetStore
  /** Unique key names for this test, so tests sharing one Redis never meet. */
  key(name: string): string
  /** A lease length short enough to watch expire. */
  shortLeaseMs: number
  /** Resolves once leases of `shortLeaseMs` taken before the call have expired (moves a fake clock, or waits). */
  letShortLeasesExpire(): Promise<void>
}

/**
 * What every BudgetStore must do, the in-memory ledger and Redis (one server or a cluster) alike:
 * the same cases run against each, so the Lua scripts cannot drift from the reference.
 */
export function budgetStoreContract(name: string, make: () => Promise<BudgetStoreUnderTest>): void {
  const LONG = 60_000
  const counters = (t: BudgetStoreUnderTest) => ({
    day: { key: t.key('day'), limit: 100, ttlMs: 86_400_000 },
    minute: { key: t.key('minute'), limit: 50, ttlMs: 60_000 },
  })
  const ref = (id: string, ...keys: Array<{ key: string }>) => ({ id, counterKeys: keys.map((k) => k.key) })

  describe(`${name}: the budget store contract`, () => {
    it('reserves against every counter at once, all or nothing, naming the first that refuses', async () => {
      const t = await make()
      const { day, minute } = counters(t)
      expect(await t.store.reserve('a', [day, minute], 40, LONG)).toEqual({ ok: true, totals: [40, 40] })
      expect(await t.store.reserve('b', [day, minute], 20, LONG)).toEqual({ ok: false, index: 1, used: 40 })
      expect(await t.store.read([day.key, minute.key])).toEqual([
        { settled: 0, reserved: 40 },
        { settled: 0, reserved: 40 },
      ])
    })

    it('admits a reservation that reaches a limit exactly, and refuses one token more', async () => {
      const t = await make()
      const { minute } = counters(t)
      expect(await t.store.reserve('a', [minute], 50, LONG)).toEqual({ ok: true, totals: [50] })
      expect(await t.store.reserve('b', [minute], 1, LONG)).toEqual({ ok: false, index: 0, used: 50 })
    })

    it('reserves nothing more when the same lease is reserved again', async () => {
      const t = await make()
      const { day } = counters(t)
      await t.store.reserve('a', [day], 40, LONG)
      expect(await t.store.reserve('a', [day], 40, LONG)).toEqual({ ok: true, totals: [40] })
      expect(await t.store.read([day.key])).toEqual([{ settled: 0, reserved: 40 }])
    })

    it('settles a lease to its actual cost, once, however often the settle is sent', async () => {
      const t = await make()
      const { day, minute } = counters(t)
      await t.store.reserve('a', [day, minute], 40, LONG)
      await t.store.settle(ref('a', day, minute), 12)
      await t.store.settle(ref('a', day, minute), 12)
      expect(await t.store.read([day.key, minute.key])).toEqual([
        { settled: 12, reserved: 0 },
        { settled: 12, reserved: 0 },
      ])
      expect(await t.store.reserve('b', [minute], 38, LONG)).toEqual({ ok: true, totals: [50] })
    })

    it('changes nothing when settling a lease it never saw (a reservation that never ran)', async () => {
      const t = await make()
      const { day } = counters(t)
      await t.store.reserve('a', [day], 40, LONG)
      await t.store.settle(ref('never', day), 0)
      await t.store.settle(ref('never', day), 9)
      expect(await t.store.read([day.key])).toEqual([{ settled: 0, reserved: 40 }])
    })

    it('stops counting an unrenewed lease once it expires, and counts a late settle of it once', async () => {
      const t = await make()
      const { minute } = counters(t)
      await t.store.reserve('dead', [minute], 50, t.shortLeaseMs)
      expect(await t.store.reserve('b', [minute], 1, LONG)).toEqual({ ok: false, index: 0, used: 50 })
      await t.letShortLeasesExpire()
      expect(await t.store.read([minute.key])).toEqual([{ settled: 0, reserved: 0 }])
      await t.store.settle(ref('dead', minute), 7)
      await t.store.settle(ref('dead', minute), 7)
      expect(await t.store.read([minute.key])).toEqual([{ settled: 7, reserved: 0 }])
    })

    it('keeps a renewed lease counting past its first expiry, and does not revive an expired one', async () => {
      const t = await make()
      const { day, minute } = counters(t)
      await t.store.reserve('live', [day], 30, t.shortLeaseMs)
      await t.store.reserve('dead', [minute], 20, t.shortLeaseMs)
      await t.store.renew([ref('live', day)], LONG)
      await t.letShortLeasesExpire()
      await t.store.renew([ref('dead', minute)], LONG)
      expect(await t.store.read([day.key, minute.key])).toEqual([
        { settled: 0, reserved: 30 },
        { settled: 0, reserved: 0 },
      ])
    })

    it('adds a charge with no lease past any limit', async () => {
      const t = await make()
      const { minute } = counters(t)
      await t.store.charge([{ counter: minute, amount: 70 }])
      expect(await t.store.read([minute.key])).toEqual([{ settled: 70, reserved: 0 }])
      expect(await t.store.reserve('a', [minute], 1, LONG)).toEqual({ ok: false, index: 0, used: 70 })
    })

    it('reads a counter that does not exist as zero, without creating it', async () => {
      const t = await make()
      expect(await t.store.read([t.key('nothing')])).toEqual([{ settled: 0, reserved: 0 }])
    })
  })
}
