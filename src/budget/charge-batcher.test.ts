import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { BudgetCounter, Charge } from '../store/store.js'
import { CHARGE_FLUSH_MS, ChargeBatcher } from './charge-batcher.js'

const counter = (key: string): BudgetCounter => ({ key, limit: 1_000, ttlMs: 60_000 })
const KEY_DAY = counter('gw:budget:{vision}:key:alice:day:20261126')
const TEAM_DAY = counter('gw:budget:{vision}:team:vision:day:20261126')
const OTHER_TEAM = counter('gw:budget:{audio}:key:bob:day:20261126')
const UNTAGGED = counter('plain')

/** A batcher over a store that records each call (and fails while `failing`), and what was lost. */
function batcher(flushMs?: number) {
  const calls: Array<{ at: number; charges: Charge[] }> = []
  const lost: Array<{ charges: readonly Charge[]; err: unknown }> = []
  const state = { failing: false }
  const store = {
    charge: async (charges: readonly Charge[]) => {
      calls.push({ at: Date.now(), charges: [...charges] })
      if (state.failing) throw new Error('store down')
    },
  }
  const b = new ChargeBatcher(store, (charges, err) => lost.push({ charges, err }), flushMs)
  return { batcher: b, calls, lost, state }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})
afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
})

describe('ChargeBatcher', () => {
  it('gathers charges for 200 ms by default, summing each counter’s tokens, then sends them in one call', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY, TEAM_DAY], 40)
    await vi.advanceTimersByTimeAsync(150)
    b.add([KEY_DAY, TEAM_DAY], 25)
    await vi.advanceTimersByTimeAsync(CHARGE_FLUSH_MS - 150 - 1)
    expect(calls).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(CHARGE_FLUSH_MS).toBe(200)
    expect(calls).toEqual([
      {
        at: 200,
        charges: [
          { counter: KEY_DAY, amount: 65 },
          { counter: TEAM_DAY, amount: 65 },
        ],
      },
    ])
  })

  it('sums each counter’s own amount when they differ (tokens for one, micro-dollars for another), skipping zeros', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY, TEAM_DAY], [40, 7_000])
    b.add([KEY_DAY, TEAM_DAY], [0, 3_000])
    await b.flush()
    expect(calls.map((call) => call.charges)).toEqual([
      [
        { counter: KEY_DAY, amount: 40 },
        { counter: TEAM_DAY, amount: 10_000 },
      ],
    ])
  })

  it('gathers nothing, and sets no timer, when every amount is zero', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY, TEAM_DAY], [0, 0])
    b.add([KEY_DAY], 0)
    expect(vi.getTimerCount()).toBe(0)
    await vi.runAllTimersAsync()
    expect(calls).toEqual([])
  })

  it('sends one call per hash tag (team), and untagged counters together', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY, TEAM_DAY], 10)
    b.add([OTHER_TEAM], 20)
    b.add([UNTAGGED], 30)
    await b.flush()
    expect(calls.map((c) => c.charges)).toEqual([
      [
        { counter: KEY_DAY, amount: 10 },
        { counter: TEAM_DAY, amount: 10 },
      ],
      [{ counter: OTHER_TEAM, amount: 20 }],
      [{ counter: UNTAGGED, amount: 30 }],
    ])
  })

  it('tells a tag by its braces, whatever the key around it', async () => {
    const { batcher: b, calls } = batcher()
    b.add([counter('a:{x}:1'), counter('b:{x}:2')], 1)
    b.add([counter('{}:1')], 2)
    b.add([counter('plain')], 3)
    await b.flush()
    expect(calls.map((c) => c.charges.map((charge) => charge.counter.key))).toEqual([['a:{x}:1', 'b:{x}:2'], ['{}:1'], ['plain']])
  })

  it('sends each charge once: a flush empties the batch', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY], 10)
    await b.flush()
    await b.flush()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(calls).toHaveLength(1)
  })

  it('starts a new 200 ms wait for charges added after a flush', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY], 10)
    await vi.advanceTimersByTimeAsync(100)
    await b.flush() // at shutdown, say
    await vi.advanceTimersByTimeAsync(50)
    b.add([KEY_DAY], 5)
    await vi.advanceTimersByTimeAsync(199)
    expect(calls.map((c) => c.at)).toEqual([100])
    await vi.advanceTimersByTimeAsync(1)
    expect(calls.map((c) => c.at)).toEqual([100, 350])
    expect(calls[1]?.charges).toEqual([{ counter: KEY_DAY, amount: 5 }])
  })

  it('ignores nothing-to-charge', async () => {
    const { batcher: b, calls } = batcher()
    b.add([KEY_DAY], 0)
    b.add([KEY_DAY], -3)
    await vi.advanceTimersByTimeAsync(1_000)
    await b.flush()
    expect(calls).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('sends at once when its flush interval is 0', async () => {
    const { batcher: b, calls } = batcher(0)
    b.add([KEY_DAY], 10)
    await Promise.resolve()
    expect(calls).toEqual([{ at: 0, charges: [{ counter: KEY_DAY, amount: 10 }] }])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reports a failed call’s charges as lost, and does not send them again', async () => {
    const { batcher: b, calls, lost, state } = batcher()
    state.failing = true
    b.add([KEY_DAY, TEAM_DAY], 10)
    b.add([OTHER_TEAM], 20)
    await b.flush()
    expect(lost).toEqual([
      {
        charges: [
          { counter: KEY_DAY, amount: 10 },
          { counter: TEAM_DAY, amount: 10 },
        ],
        err: new Error('store down'),
      },
      { charges: [{ counter: OTHER_TEAM, amount: 20 }], err: new Error('store down') },
    ])
    state.failing = false
    await b.flush()
    expect(calls).toHaveLength(2)
  })

  it('waits on a timer that never keeps the process alive', () => {
    const setTimeout = vi.spyOn(globalThis, 'setTimeout')
    const { batcher: b } = batcher()
    b.add([KEY_DAY], 10)
    b.add([KEY_DAY], 10)
    expect(setTimeout).toHaveBeenCalledTimes(1)
    expect((setTimeout.mock.results[0]?.value as NodeJS.Timeout).hasRef()).toBe(false)
  })
})
