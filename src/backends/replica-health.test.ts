import { describe, expect, it } from 'vitest'
import { ReplicaHealth } from './replica-health.js'

const EJECTION = { consecutiveFailures: 3, baseMs: 1_000, maxMs: 8_000 }

function replica(options: { probed?: boolean } = {}) {
  let now = 1_000_000
  const clock = { now: () => now }
  let ejections = 0
  const health = new ReplicaHealth({ ejection: EJECTION, probed: options.probed ?? false, clock, onEject: () => (ejections += 1) })
  return {
    health,
    advance: (ms: number) => (now += ms),
    now: () => now,
    ejections: () => ejections,
  }
}

/** Marks it as having answered once: from then on it takes three failures in a row to eject it. */
const answered = (r: ReturnType<typeof replica>) => r.health.succeeded()

describe('ReplicaHealth', () => {
  it('ejects a replica that was answering after 3 failures in a row, not 2; a success in between resets the count', () => {
    const r = replica()
    answered(r)
    r.health.failed('HTTP 503')
    r.health.failed('HTTP 503')
    r.health.succeeded()
    r.health.failed('HTTP 503')
    r.health.failed('HTTP 503')
    expect(r.health.state(r.now())).toBe('up')
    r.health.failed('ECONNRESET')
    expect(r.health.state(r.now())).toBe('ejected')
    expect(r.health.snapshot()).toMatchObject({ failures: 3, lastError: 'ECONNRESET', ejections: 1, ejectedUntil: r.now() + 1_000 })
    expect(r.ejections()).toBe(1)
  })

  it('ejects one that never answered at its first failure', () => {
    const r = replica()
    r.health.failed('ECONNREFUSED')
    expect(r.health.pickable(r.now())).toBe(false)
  })

  it('doubles the backoff at each ejection in a row, up to the cap', () => {
    const r = replica()
    const backoffs: number[] = []
    for (let i = 0; i < 6; i++) {
      r.health.failed('ECONNREFUSED') // a failed trial ejects it again at once
      backoffs.push((r.health.snapshot().ejectedUntil ?? 0) - r.now())
      r.advance(backoffs[i] ?? 0)
      expect(r.health.beginRequest()).toBe(true) // its trial
    }
    expect(backoffs).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
  })

  it('lets one trial through at a time once the backoff is over (unprobed), and is up after it succeeds', () => {
    const r = replica()
    r.health.failed('ECONNREFUSED')
    r.advance(999)
    expect(r.health.pickable(r.now())).toBe(false)
    r.advance(1)
    expect(r.health.state(r.now())).toBe('half_open')
    expect(r.health.pickable(r.now())).toBe(true)
    expect(r.health.beginRequest()).toBe(true)
    expect(r.health.pickable(r.now())).toBe(false) // one trial at a time
    r.health.succeeded()
    expect(r.health.state(r.now())).toBe('up')
    expect(r.health.pickable(r.now())).toBe(true)
  })

  it('frees the trial when it ended without a verdict', () => {
    const r = replica()
    r.health.failed('ECONNREFUSED')
    r.advance(1_000)
    r.health.beginRequest()
    r.health.endTrial()
    expect(r.health.pickable(r.now())).toBe(true)
  })

  it('needs a probe to answer before the trial when the backend is probed', () => {
    const r = replica({ probed: true })
    r.health.failed('ECONNREFUSED')
    r.advance(5_000)
    expect(r.health.state(r.now())).toBe('ejected')
    r.health.probeFailed('probe failed (ECONNREFUSED)')
    expect(r.health.state(r.now())).toBe('ejected')
    r.health.probeSucceeded()
    expect(r.health.state(r.now())).toBe('half_open')
  })

  it('starts the backoff over once it has stayed up for a whole maxMs', () => {
    const r = replica()
    r.health.failed('x')
    r.advance(1_000)
    r.health.beginRequest()
    r.health.failed('x') // second ejection in a row: 2 s
    r.advance(2_000)
    r.health.beginRequest()
    r.health.succeeded()
    r.advance(8_000)
    for (let i = 0; i < 3; i++) r.health.failed('x')
    expect((r.health.snapshot().ejectedUntil ?? 0) - r.now()).toBe(1_000)
  })

  it('cools down for a 429 Retry-After without counting it as a failure, at most maxMs', () => {
    const r = replica()
    answered(r)
    r.health.rateLimited(3_000)
    expect(r.health.pickable(r.now())).toBe(false)
    expect(r.health.snapshot()).toMatchObject({ state: 'up', healthy: true, failures: 0, coolingUntil: r.now() + 3_000 })
    r.advance(3_000)
    expect(r.health.pickable(r.now())).toBe(true)
    r.health.rateLimited(60_000)
    expect(r.health.snapshot().coolingUntil).toBe(r.now() + 8_000)
  })
})
