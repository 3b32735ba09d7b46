import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { WeightedSemaphore, type Release } from './weighted-semaphore.js'

/** Follows a pending acquire: `state` is 'pending' until it settles, then the grant or undefined. */
function track(promise: Promise<Release | undefined>) {
  const tracked: { state: 'pending' | 'granted' | 'refused'; release: Release } = { state: 'pending', release: () => {} }
  void promise.then((release) => {
    tracked.state = release ? 'granted' : 'refused'
    if (release) tracked.release = release
  })
  return tracked
}

/** Lets every already-resolved promise callback run; no time passes. */
const settle = () => vi.advanceTimersByTimeAsync(0)

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('WeightedSemaphore', () => {
  it('grants at once what fits, and counts it in inUse until released', async () => {
    const sem = new WeightedSemaphore(10)
    const a = await sem.acquire(4, 0)
    const b = await sem.acquire(6, 0)
    expect(a).toBeTypeOf('function')
    expect(b).toBeTypeOf('function')
    expect(sem.inUse).toBe(10)
    a?.()
    expect(sem.inUse).toBe(6)
    b?.()
    expect(sem.inUse).toBe(0)
  })

  it('grants waiters in arrival order: a small one does not overtake a large one ahead of it', async () => {
    const sem = new WeightedSemaphore(10)
    const first = await sem.acquire(7, 0)
    const large = track(sem.acquire(5, 1_000))
    const small = track(sem.acquire(2, 1_000)) // 7 + 2 fits, but the large one came first
    await settle()
    expect([large.state, small.state]).toEqual(['pending', 'pending'])
    expect(sem.inUse).toBe(7)
    first?.()
    await settle()
    expect([large.state, small.state]).toEqual(['granted', 'granted'])
    expect(sem.inUse).toBe(7)
  })

  it('stops granting at the first waiter that does not fit, even if later ones would', async () => {
    const sem = new WeightedSemaphore(10)
    const all = await sem.acquire(10, 0)
    const a = track(sem.acquire(6, 1_000))
    const b = track(sem.acquire(6, 1_000))
    const c = track(sem.acquire(1, 1_000))
    all?.()
    await settle()
    expect([a.state, b.state, c.state]).toEqual(['granted', 'pending', 'pending'])
    expect(sem.inUse).toBe(6)
    a.release()
    await settle()
    expect([b.state, c.state]).toEqual(['granted', 'granted'])
    expect(sem.inUse).toBe(7)
  })

  it('with waitMs 0, sheds at once when full, without queueing or starting a timer', async () => {
    const sem = new WeightedSemaphore(10)
    await sem.acquire(8, 0)
    const shed = track(sem.acquire(3, 0))
    await Promise.resolve()
    await Promise.resolve()
    expect(shed.state).toBe('refused')
    expect(vi.getTimerCount()).toBe(0)
    expect(sem.inUse).toBe(8)
    expect(await sem.acquire(2, 0)).toBeTypeOf('function') // still room for what fits
  })

  it('with waitMs 0, does not jump a queue even when there is room', async () => {
    const sem = new WeightedSemaphore(10)
    await sem.acquire(6, 0)
    const queued = track(sem.acquire(5, 1_000))
    expect(await sem.acquire(1, 0)).toBeUndefined()
    await settle()
    expect(queued.state).toBe('pending')
    expect(sem.inUse).toBe(6)
  })

  it('answers undefined when waitMs runs out, and then lets smaller waiters behind it in', async () => {
    const sem = new WeightedSemaphore(10)
    await sem.acquire(6, 0)
    const large = track(sem.acquire(8, 100))
    const small = track(sem.acquire(3, 1_000))
    await vi.advanceTimersByTimeAsync(99)
    expect([large.state, small.state]).toEqual(['pending', 'pending'])
    await vi.advanceTimersByTimeAsync(1)
    expect([large.state, small.state]).toEqual(['refused', 'granted'])
    expect(sem.inUse).toBe(9)
    expect(vi.getTimerCount()).toBe(0) // the granted waiter's timer is gone too
  })

  it('drops a timed-out waiter from the middle of the queue and keeps the order of the rest', async () => {
    const sem = new WeightedSemaphore(10)
    const all = await sem.acquire(10, 0)
    const a = track(sem.acquire(5, 1_000))
    const b = track(sem.acquire(5, 100))
    const c = track(sem.acquire(5, 1_000))
    await vi.advanceTimersByTimeAsync(100)
    expect([a.state, b.state, c.state]).toEqual(['pending', 'refused', 'pending'])
    all?.()
    await settle()
    expect([a.state, c.state]).toEqual(['granted', 'granted'])
    expect(sem.inUse).toBe(10) // b, who gave up, holds nothing
  })

  it('keeps a grant once made: time running on does not take it back', async () => {
    const sem = new WeightedSemaphore(4)
    const first = await sem.acquire(4, 0)
    const waiter = track(sem.acquire(4, 100))
    first?.()
    await settle()
    expect(waiter.state).toBe('granted')
    await vi.advanceTimersByTimeAsync(1_000)
    expect(waiter.state).toBe('granted')
    expect(sem.inUse).toBe(4)
  })

  it('ignores a second release of the same grant', async () => {
    const sem = new WeightedSemaphore(10)
    const a = await sem.acquire(6, 0)
    await sem.acquire(4, 0)
    a?.()
    a?.()
    expect(sem.inUse).toBe(4)
    // Counted twice, 7 more would now seem to fit.
    expect(await sem.acquire(7, 0)).toBeUndefined()
    expect(sem.inUse).toBe(4)
  })

  it('a double release does not grant a waiter room that is not there', async () => {
    const sem = new WeightedSemaphore(10)
    const a = await sem.acquire(5, 0)
    await sem.acquire(5, 0)
    const waiter = track(sem.acquire(10, 1_000))
    a?.()
    a?.()
    await settle()
    expect(waiter.state).toBe('pending')
    expect(sem.inUse).toBe(5)
  })

  it('clamps amounts: more than the capacity takes all of it (never waits forever), negative takes nothing', async () => {
    const sem = new WeightedSemaphore(10)
    const huge = await sem.acquire(25, 0)
    expect(huge).toBeTypeOf('function')
    expect(sem.inUse).toBe(10)
    const none = await sem.acquire(-3, 0)
    expect(none).toBeTypeOf('function')
    expect(sem.inUse).toBe(10)
    none?.()
    expect(sem.inUse).toBe(10)
    huge?.()
    expect(sem.inUse).toBe(0)
  })

  it('a waiter that gave up never takes capacity later', async () => {
    const sem = new WeightedSemaphore(10)
    const all = await sem.acquire(10, 0)
    const gaveUp = track(sem.acquire(3, 50))
    await vi.advanceTimersByTimeAsync(50)
    expect(gaveUp.state).toBe('refused')
    all?.()
    await settle()
    expect(sem.inUse).toBe(0)
  })

  it('answers undefined to a waiter whose signal aborts, drops its timer, and lets the waiters behind it in', async () => {
    const sem = new WeightedSemaphore(10)
    await sem.acquire(6, 0)
    const controller = new AbortController()
    const large = track(sem.acquire(8, 1_000, controller.signal))
    const small = track(sem.acquire(3, 1_000))
    await settle()
    expect([large.state, small.state]).toEqual(['pending', 'pending'])
    controller.abort()
    await settle()
    expect([large.state, small.state]).toEqual(['refused', 'granted'])
    expect(sem.inUse).toBe(9)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('answers undefined at once to a signal already aborted, even when there is room', async () => {
    const sem = new WeightedSemaphore(10)
    expect(await sem.acquire(1, 1_000, AbortSignal.abort())).toBeUndefined()
    expect(sem.inUse).toBe(0)
  })
})
