import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LeaseRef } from '../store/store.js'
import { LeaseKeeper } from './lease-keeper.js'

const LEASE_MS = 3_000
const lease = (id: string): LeaseRef => ({ id, counterKeys: [`counter-${id}`] })

function keeper(renew: (leases: readonly LeaseRef[], leaseMs: number) => Promise<void> = async () => {}) {
  const calls: Array<{ at: number; ids: string[]; leaseMs: number }> = []
  const errors: unknown[] = []
  const store = {
    renew: async (leases: readonly LeaseRef[], leaseMs: number) => {
      calls.push({ at: Date.now(), ids: leases.map((l) => l.id), leaseMs })
      await renew(leases, leaseMs)
    },
  }
  return { keeper: new LeaseKeeper(store, LEASE_MS, (err) => errors.push(err)), calls, errors }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})
afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
})

describe('LeaseKeeper', () => {
  it('renews every held lease in one call, every third of a lease', async () => {
    const { keeper: k, calls } = keeper()
    k.hold(lease('a'))
    k.hold(lease('b'))
    expect(k.size).toBe(2)
    await vi.advanceTimersByTimeAsync(999)
    expect(calls).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(calls).toEqual([{ at: 1_000, ids: ['a', 'b'], leaseMs: LEASE_MS }])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(calls.map((c) => c.at)).toEqual([1_000, 2_000])
  })

  it('runs one timer however many leases it holds, and none once the last is dropped', async () => {
    const { keeper: k, calls } = keeper()
    k.hold(lease('a'))
    k.hold(lease('b'))
    expect(vi.getTimerCount()).toBe(1)
    k.drop('a')
    await vi.advanceTimersByTimeAsync(1_000)
    expect(calls).toEqual([{ at: 1_000, ids: ['b'], leaseMs: LEASE_MS }]) // still renewing the one left
    k.drop('b')
    expect(k.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(calls).toHaveLength(1)
  })

  it('renews at least every millisecond for a lease shorter than 3 ms', async () => {
    const calls: number[] = []
    const k = new LeaseKeeper({ renew: async () => void calls.push(Date.now()) }, 2, () => {})
    k.hold(lease('a'))
    await vi.advanceTimersByTimeAsync(3)
    expect(calls).toEqual([1, 2, 3])
    k.stop()
  })

  it('does not call the store when it holds nothing', async () => {
    const { keeper: k, calls } = keeper()
    await k.renewAll()
    expect(calls).toEqual([])
  })

  it('reports a failed renewal and tries again at the next tick', async () => {
    let failures = 1
    const {
      keeper: k,
      calls,
      errors,
    } = keeper(async () => {
      if (failures-- > 0) throw new Error('store down')
    })
    k.hold(lease('a'))
    await vi.advanceTimersByTimeAsync(2_000)
    expect(errors).toEqual([new Error('store down')])
    expect(calls.map((c) => c.at)).toEqual([1_000, 2_000])
    k.stop()
  })

  it('never keeps the process alive', () => {
    const setInterval = vi.spyOn(globalThis, 'setInterval')
    const { keeper: k } = keeper()
    k.hold(lease('a'))
    expect(setInterval).toHaveBeenCalledTimes(1)
    expect((setInterval.mock.results[0]?.value as NodeJS.Timeout).hasRef()).toBe(false)
    k.stop()
  })
})
