import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GatewayError } from '../errors/gateway-error.js'
import { WorkGate } from './work-gate.js'

/** A job that runs until `finish()` is called; `started` tells whether it has begun. */
function job(log: string[], name: string) {
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  const state = { started: false }
  const work = async () => {
    state.started = true
    log.push(`start ${name}`)
    await done
    log.push(`end ${name}`)
    return name
  }
  return { work, finish: () => finish(), state }
}

const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('WorkGate', () => {
  it('runs as many jobs at once as it has slots, the rest in arrival order as slots free up', async () => {
    const gate = new WorkGate(1, 60_000)
    const log: string[] = []
    const [a, b, c] = [job(log, 'a'), job(log, 'b'), job(log, 'c')]
    const results = [gate.run(a.work), gate.run(b.work), gate.run(c.work)]
    await turn()
    expect([a.state.started, b.state.started, c.state.started]).toEqual([true, false, false])
    a.finish()
    await turn()
    expect([b.state.started, c.state.started]).toEqual([true, false])
    b.finish()
    c.finish()
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c'])
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c'])
  })

  it('frees the slot when a job fails', async () => {
    const gate = new WorkGate(1, 60_000)
    await expect(gate.run(() => Promise.reject(new Error('bad image')))).rejects.toThrow('bad image')
    expect(await gate.run(() => Promise.resolve('next'))).toBe('next')
  })

  it('refuses a job that waited past maxWaitMs with 503 overloaded and Retry-After, and it never runs', async () => {
    vi.useFakeTimers()
    try {
      const gate = new WorkGate(1, 5_000)
      const log: string[] = []
      const holder = job(log, 'holder')
      const held = gate.run(holder.work)
      let ran = false
      const waiting = gate.run(async () => {
        ran = true
      })
      const refused = expect(waiting).rejects.toSatisfy(
        (err: unknown) => err instanceof GatewayError && err.code === 'overloaded' && err.status === 503,
      )
      await vi.advanceTimersByTimeAsync(5_000)
      await refused
      holder.finish()
      await held
      expect(ran).toBe(false)
      expect(await gate.run(() => Promise.resolve('free again'))).toBe('free again')
    } finally {
      vi.useRealTimers()
    }
  })

  it('drops a waiting job whose client left, and lets the next one through', async () => {
    const gate = new WorkGate(1, 60_000)
    const log: string[] = []
    const holder = job(log, 'holder')
    const held = gate.run(holder.work)
    const controller = new AbortController()
    const left = gate.run(() => Promise.resolve('never'), controller.signal)
    const after = job(log, 'after')
    const next = gate.run(after.work)
    controller.abort(new Error('client left'))
    await expect(left).rejects.toThrow('client left')
    holder.finish()
    await held
    await turn()
    expect(after.state.started).toBe(true)
    after.finish()
    expect(await next).toBe('after')
  })

  it('refuses at once a job whose client has already left', async () => {
    const gate = new WorkGate(1, 60_000)
    const controller = new AbortController()
    controller.abort(new Error('gone'))
    const holder = job([], 'holder')
    const held = gate.run(holder.work)
    await expect(gate.run(() => Promise.resolve('x'), controller.signal)).rejects.toThrow('gone')
    holder.finish()
    await held
  })

  describe('lease', () => {
    beforeEach(() => vi.useFakeTimers())
    afterEach(() => vi.useRealTimers())

    /** A gate of one slot held by a lease of 1 s, and a job queued behind it. */
    async function leasedWithNext(name = 'next') {
      const gate = new WorkGate(1, 60_000)
      const lease = await gate.lease(1_000)
      const next = job([], name)
      return { gate, lease, next, running: gate.run(next.work) }
    }

    it('ends leaseMs after it began: the next job starts, and keep() tells the holder its turn is over', async () => {
      const { lease, next, running } = await leasedWithNext()
      await vi.advanceTimersByTimeAsync(999)
      expect(next.state.started).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      expect(next.state.started).toBe(true)
      expect(lease.keep()).toBe(false)
      next.finish()
      await running
    })

    it('kept before it runs out, holds the turn until released', async () => {
      const { lease, next, running } = await leasedWithNext()
      expect(lease.keep()).toBe(true)
      await vi.advanceTimersByTimeAsync(5_000)
      expect(next.state.started).toBe(false)
      lease.release()
      await vi.advanceTimersByTimeAsync(0)
      expect(next.state.started).toBe(true)
      next.finish()
      await running
    })

    it('released after it ran out, frees no slot a second time', async () => {
      const { gate, lease, next: second, running } = await leasedWithNext('second')
      const third = job([], 'third')
      const runs = [running, gate.run(third.work)]
      await vi.advanceTimersByTimeAsync(1_000)
      expect(second.state.started).toBe(true)
      lease.release()
      await vi.advanceTimersByTimeAsync(0)
      expect(third.state.started).toBe(false)
      second.finish()
      await vi.advanceTimersByTimeAsync(0)
      expect(third.state.started).toBe(true)
      third.finish()
      await Promise.all(runs)
    })

    it('waits for its turn like any job, and is refused with 503 past maxWaitMs', async () => {
      const gate = new WorkGate(1, 5_000)
      const holder = job([], 'holder')
      const held = gate.run(holder.work)
      const refused = expect(gate.lease(1_000)).rejects.toSatisfy(
        (err: unknown) => err instanceof GatewayError && err.code === 'overloaded' && err.status === 503,
      )
      await vi.advanceTimersByTimeAsync(5_000)
      await refused
      holder.finish()
      await held
    })
  })
})
