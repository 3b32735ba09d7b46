import { describe, expect, it } from 'vitest'
import type { BudgetStoreUnderTest } from './budget-store.js'

/**
 * Counters of different units in one reservation: a request's token budgets and its money budgets
 * (micro-dollars) each take their own amount, checked together, all or nothing, and settled,
 * renewed, expired and charged like any other. Runs against every BudgetStore, as the main contract.
 */
export function budgetStoreAmountsContract(name: string, make: () => Promise<BudgetStoreUnderTest>): void {
  const LONG = 60_000
  const counters = (t: BudgetStoreUnderTest) => ({
    tokens: { key: t.key('tokens'), limit: 1_000, ttlMs: 86_400_000 },
    usd: { key: t.key('usd'), limit: 5_000_000, ttlMs: 86_400_000 }, // $5 in micro-dollars
  })
  const ref = (id: string, ...keys: Array<{ key: string }>) => ({ id, counterKeys: keys.map((k) => k.key) })

  describe(`${name}: per-counter amounts`, () => {
    it('reserves each counter its own amount, and totals each in its own unit', async () => {
      const t = await make()
      const { tokens, usd } = counters(t)
      expect(await t.store.reserve('a', [tokens, usd], [600, 1_200_000], LONG)).toEqual({ ok: true, totals: [600, 1_200_000] })
      expect(await t.store.read([tokens.key, usd.key])).toEqual([
        { settled: 0, reserved: 600 },
        { settled: 0, reserved: 1_200_000 },
      ])
    })

    it('refuses all when the money counter would pass its limit, though the tokens fit, and names it', async () => {
      const t = await make()
      const { tokens, usd } = counters(t)
      await t.store.reserve('a', [tokens, usd], [100, 4_000_000], LONG)
      expect(await t.store.reserve('b', [tokens, usd], [100, 1_000_001], LONG)).toEqual({ ok: false, index: 1, used: 4_000_000 })
      expect(await t.store.reserve('c', [tokens, usd], [100, 1_000_000], LONG)).toEqual({ ok: true, totals: [200, 5_000_000] })
      expect(await t.store.read([tokens.key, usd.key])).toEqual([
        { settled: 0, reserved: 200 },
        { settled: 0, reserved: 5_000_000 },
      ])
    })

    it('settles each counter to its own actual cost, once', async () => {
      const t = await make()
      const { tokens, usd } = counters(t)
      await t.store.reserve('a', [tokens, usd], [600, 1_200_000], LONG)
      await t.store.settle(ref('a', tokens, usd), [42, 84_000])
      await t.store.settle(ref('a', tokens, usd), [42, 84_000])
      expect(await t.store.read([tokens.key, usd.key])).toEqual([
        { settled: 42, reserved: 0 },
        { settled: 84_000, reserved: 0 },
      ])
    })

    it('gives back each counter its own amount when a lease expires, and counts a late settle per counter', async () => {
      const t = await make()
      const { tokens, usd } = counters(t)
      await t.store.reserve('live', [tokens, usd], [300, 2_000_000], LONG)
      await t.store.reserve('dead', [tokens, usd], [100, 1_000_000], t.shortLeaseMs)
      await t.store.renew([ref('live', tokens, usd)], LONG)
      await t.letShortLeasesExpire()
      expect(await t.store.read([tokens.key, usd.key])).toEqual([
        { settled: 0, reserved: 300 },
        { settled: 0, reserved: 2_000_000 },
      ])
      await t.store.settle(ref('dead', tokens, usd), [7, 7_000])
      expect(await t.store.read([tokens.key, usd.key])).toEqual([
        { settled: 7, reserved: 300 },
        { settled: 7_000, reserved: 2_000_000 },
      ])
    })

    it('charges each counter its own amount', async () => {
      const t = await make()
      const { tokens, usd } = counters(t)
      await t.store.charge([
        { counter: tokens, amount: 70 },
        { counter: usd, amount: 5_000_001 },
      ])
      expect(await t.store.read([tokens.key, usd.key])).toEqual([
        { settled: 70, reserved: 0 },
        { settled: 5_000_001, reserved: 0 },
      ])
      expect(await t.store.reserve('a', [tokens, usd], [1, 0], LONG)).toEqual({ ok: false, index: 1, used: 5_000_001 })
    })
  })
}
