import { describe, it, expect } from 'vitest'
import { SingleFlight, unlessAborted } from './single-flight.js'

/** Lets every already-settled promise callback run; no timers involved. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

/** Records whether a promise has resolved yet, and with what. */
function track<T>(promise: Promise<T>) {
  const state: { done: boolean; value: T | undefined } = { done: false, value: undefined }
  void promise.then((value) => {
    state.done = true
    state.value = value
  })
  return state
}

describe('SingleFlight', () => {
  it('has no flight to join before one is led', () => {
    const flights = new SingleFlight<string>()
    expect(flights.join('k')).toBeUndefined()
    expect(flights.size).toBe(0)
  })

  it('lets later requests join the flight under way: every join gets the same promise', () => {
    const flights = new SingleFlight<string>()
    flights.lead('k')
    const a = flights.join('k')
    const b = flights.join('k')
    expect(a).toBeInstanceOf(Promise)
    expect(a).toBe(b)
    expect(flights.size).toBe(1)
  })

  it('keeps flights of different keys apart', () => {
    const flights = new SingleFlight<string>()
    flights.lead('a')
    expect(flights.join('b')).toBeUndefined()
    expect(flights.join('a')).not.toBe(flights.join('b'))
  })

  it('does not resolve waiters before the flight lands', async () => {
    const flights = new SingleFlight<string>()
    flights.lead('k')
    const waiter = track(flights.join('k') as Promise<string | undefined>)
    await settle()
    expect(waiter.done).toBe(false)
  })

  it('land resolves every waiter with the value and removes the flight', async () => {
    const flights = new SingleFlight<string>()
    const flight = flights.lead('k')
    const a = flights.join('k')
    const b = flights.join('k')
    flight.land('answer')
    expect(await a).toBe('answer')
    expect(await b).toBe('answer')
    expect(flights.join('k')).toBeUndefined()
    expect(flights.size).toBe(0)
  })

  it('land(undefined) resolves waiters with undefined (they then go to the backend themselves)', async () => {
    const flights = new SingleFlight<string>()
    const flight = flights.lead('k')
    const waiter = flights.join('k')
    flight.land(undefined)
    expect(await waiter).toBeUndefined()
    expect(flights.size).toBe(0)
  })

  it('ignores a second land', async () => {
    const flights = new SingleFlight<string>()
    const flight = flights.lead('k')
    const waiter = flights.join('k')
    flight.land('first')
    flight.land('second')
    expect(await waiter).toBe('first')
  })

  it('starts a new flight when a request leads after the last one landed', async () => {
    const flights = new SingleFlight<string>()
    const first = flights.lead('k')
    const firstWaiter = flights.join('k')
    first.land('one')
    const second = flights.lead('k')
    const secondWaiter = flights.join('k')
    expect(secondWaiter).not.toBe(firstWaiter)
    const tracked = track(secondWaiter as Promise<string | undefined>)
    await settle()
    expect(tracked.done).toBe(false)
    second.land('two')
    expect(await secondWaiter).toBe('two')
    expect(await firstWaiter).toBe('one')
  })

  it('a late second land of an old flight does not remove a newer flight for the same key', () => {
    const flights = new SingleFlight<string>()
    const old = flights.lead('k')
    const newer = flights.lead('k')
    const current = flights.join('k')
    old.land('stale')
    expect(flights.join('k')).toBe(current)
    newer.land('fresh')
    expect(flights.join('k')).toBeUndefined()
  })
})

describe('unlessAborted', () => {
  it('resolves the value when the promise settles first', async () => {
    const controller = new AbortController()
    expect(await unlessAborted(Promise.resolve('value'), controller.signal)).toBe('value')
  })

  it('resolves undefined as soon as the signal aborts, without waiting for the promise', async () => {
    const controller = new AbortController()
    const never = new Promise<string | undefined>(() => {})
    const result = track(unlessAborted(never, controller.signal))
    await settle()
    expect(result.done).toBe(false)
    controller.abort()
    await settle()
    expect(result).toEqual({ done: true, value: undefined })
  })

  it('keeps the first outcome: a value that arrives after the abort is dropped', async () => {
    const controller = new AbortController()
    let resolve!: (value: string) => void
    const pending = new Promise<string | undefined>((r) => (resolve = r))
    const result = unlessAborted(pending, controller.signal)
    controller.abort()
    resolve('late')
    expect(await result).toBeUndefined()
  })

  it('keeps the value when the signal aborts after the promise resolved', async () => {
    const controller = new AbortController()
    const result = unlessAborted(Promise.resolve('value'), controller.signal)
    await settle()
    controller.abort()
    expect(await result).toBe('value')
  })

  it('resolves undefined (never rejects) when the promise rejects', async () => {
    const controller = new AbortController()
    await expect(unlessAborted(Promise.reject(new Error('boom')), controller.signal)).resolves.toBeUndefined()
  })

  it('resolves undefined at once for an already-aborted signal', async () => {
    const never = new Promise<string | undefined>(() => {})
    const result = track(unlessAborted(never, AbortSignal.abort()))
    await settle()
    expect(result).toEqual({ done: true, value: undefined })
  })

  it('removes its abort listener once the promise resolved', async () => {
    const controller = new AbortController()
    const signal = controller.signal
    let added = 0
    let removed = 0
    const add = signal.addEventListener.bind(signal)
    const remove = signal.removeEventListener.bind(signal)
    signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
      added++
      add(...args)
    }
    signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => {
      removed++
      remove(...args)
    }
    await unlessAborted(Promise.resolve('v'), signal)
    expect(added).toBe(1)
    expect(removed).toBe(1)
  })
})
