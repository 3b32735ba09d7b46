import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LeaseRef } from '../store/store.js'
import { Settler } from './settler.js'

const lease = (id: string): LeaseRef => ({ id, counterKeys: [`counter-${id}`] })

/** A Settler over a store whose settle fails `failures` times, then lands; it records every attempt. */
function settler(failures: number, retryForMs = 60_000) {
  const attempts: Array<{ at: number; id: string; actual: number }> = []
  const abandoned: Array<{ at: number; id: string; err: unknown }> = []
  let left = failures
  const store = {
    settle: async (l: LeaseRef, actual: number) => {
      attempts.push({ at: Date.now(), id: l.id, actual })
      if (left-- > 0) throw new Error('store down')
    },
  }
  const s = new Settler(store, {
    retryForMs,
    now: () => Date.now(),
    onAbandon: (l, err) => abandoned.push({ at: Date.now(), id: l.id, err }),
  })
  return { settler: s, attempts, abandoned }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})
afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
})

describe('Settler', () => {
  it('settles at once when the store answers', async () => {
    const { settler: s, attempts } = settler(0)
    s.settle(lease('a'), 25)
    expect(s.inFlight).toBe(1)
    await s.idle()
    expect(s.inFlight).toBe(0)
    expect(attempts).toEqual([{ at: 0, id: 'a', actual: 25 }])
  })

  it('retries after 100 ms, doubling the wait up to 5 s', async () => {
    const { settler: s, attempts, abandoned } = settler(8)
    s.settle(lease('a'), 25)
    const idle = s.idle()
    await vi.advanceTimersByTimeAsync(30_000)
    await idle
    expect(attempts.map((a) => a.at)).toEqual([0, 100, 300, 700, 1_500, 3_100, 6_300, 11_300, 16_300])
    expect(abandoned).toEqual([])
  })

  it('gives up when the next try would come after the retry window, and says so once', async () => {
    const { settler: s, attempts, abandoned } = settler(Number.POSITIVE_INFINITY, 300)
    s.settle(lease('a'), 25)
    const idle = s.idle()
    await vi.advanceTimersByTimeAsync(10_000)
    await idle
    // 0 + 100 < 300: tried again at 100; 100 + 200 is not before 300: given up there.
    expect(attempts.map((a) => a.at)).toEqual([0, 100])
    expect(abandoned).toEqual([{ at: 100, id: 'a', err: new Error('store down') }])
    expect(s.inFlight).toBe(0)
  })

  it('is idle at once when nothing is pending', async () => {
    const { settler: s } = settler(0)
    await expect(s.idle()).resolves.toBeUndefined()
  })

  it('is idle only once every settlement has landed', async () => {
    const { settler: s } = settler(1)
    s.settle(lease('a'), 1) // fails once, lands at 100 ms
    s.settle(lease('b'), 2)
    let idle = false
    void s.idle().then(() => (idle = true))
    await vi.advanceTimersByTimeAsync(50)
    expect([s.inFlight, idle]).toEqual([1, false])
    await vi.advanceTimersByTimeAsync(50)
    expect([s.inFlight, idle]).toEqual([0, true])
  })

  it('retries on timers that never keep the process alive', async () => {
    const setTimeout = vi.spyOn(globalThis, 'setTimeout')
    const { settler: s } = settler(1)
    s.settle(lease('a'), 1)
    await vi.advanceTimersByTimeAsync(0)
    expect(setTimeout).toHaveBeenCalledTimes(1)
    expect((setTimeout.mock.results[0]?.value as NodeJS.Timeout).hasRef()).toBe(false)
    await vi.advanceTimersByTimeAsync(100)
    expect(s.inFlight).toBe(0)
  })
})
