import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StoreTimeoutError, withDeadline } from './deadline.js'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] })
})
afterEach(() => {
  vi.useRealTimers()
})

const never = () => new Promise<never>(() => undefined)
/** Whether `promise` has settled: 'pending', or its value, or the name of its error. */
function outcomeOf(promise: Promise<unknown>): { now: string } {
  const outcome = { now: 'pending' }
  promise.then(
    (value) => (outcome.now = String(value)),
    (err: unknown) => (outcome.now = (err as Error).name),
  )
  return outcome
}

describe('withDeadline', () => {
  it('answers what the call answers in time', async () => {
    const outcome = outcomeOf(withDeadline(Promise.resolve('reply'), 50))
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.now).toBe('reply')
  })

  it('fails with StoreTimeoutError once the time has passed, not before', async () => {
    const call = withDeadline(never(), 50)
    const outcome = outcomeOf(call)
    await vi.advanceTimersByTimeAsync(49)
    expect(outcome.now).toBe('pending')
    await vi.advanceTimersByTimeAsync(2) // the verdict waits for the next poll (an immediate)
    expect(outcome.now).toBe('StoreTimeoutError')
    await expect(call).rejects.toBeInstanceOf(StoreTimeoutError)
  })

  it('counts from when a held write left, not from the call', async () => {
    let markSent: () => void = () => undefined
    const sent = new Promise<void>((resolve) => (markSent = resolve))
    const outcome = outcomeOf(withDeadline(never(), 50, sent))
    await vi.advanceTimersByTimeAsync(200)
    expect(outcome.now).toBe('pending')
    markSent()
    await vi.advanceTimersByTimeAsync(49)
    expect(outcome.now).toBe('pending')
    await vi.advanceTimersByTimeAsync(2) // the verdict waits for the next poll (an immediate)
    expect(outcome.now).toBe('StoreTimeoutError')
  })

  it('answers a reply that came while its write was still held', async () => {
    const sent = new Promise<void>(() => undefined)
    const outcome = outcomeOf(withDeadline(Promise.resolve('early'), 50, sent))
    await vi.advanceTimersByTimeAsync(100)
    expect(outcome.now).toBe('early')
  })
})
