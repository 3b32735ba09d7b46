import { describe, expect, it } from 'vitest'
import { pickAffinity, rendezvousOrder } from './affinity.js'
import type { Candidate } from './candidate.js'
import { pickLeastOutstanding } from './least-outstanding.js'
import { hashKeyOf, seedOf } from './rendezvous.js'
import { pickRoundRobin } from './round-robin.js'
import { createHash } from 'node:crypto'

const replica = (name: string, weight = 1, outstanding = 0): Candidate => ({
  name,
  weight,
  seed: seedOf(name),
  outstanding,
  latencyMs: 0,
  current: 0,
})
const keyOf = (text: string) => hashKeyOf(createHash('sha256').update(text).digest('hex'))
/** A seeded source of numbers in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0
  return () => (state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0) / 4_294_967_296
}

describe('round robin', () => {
  it('interleaves by weight (5:1:1 gives a a b a c a a, not five a in a row)', () => {
    const pool = [replica('a', 5), replica('b'), replica('c')]
    expect(Array.from({ length: 7 }, () => pickRoundRobin(pool)?.name).join(' ')).toBe('a a b a c a a')
  })
})

describe('least outstanding, power of two choices', () => {
  it('never picks the busier of two', () => {
    const pool = [replica('idle', 1, 0), replica('busy', 1, 5)]
    const random = lcg(1)
    for (let i = 0; i < 100; i++) expect(pickLeastOutstanding(pool, random)?.name).toBe('idle')
  })

  it('compares load per unit of weight', () => {
    const pool = [replica('big', 4, 6), replica('small', 1, 2)] // 1.5 vs 2 per unit
    expect(pickLeastOutstanding(pool, lcg(3))?.name).toBe('big')
  })

  it('breaks ties toward the replica finishing requests sooner', () => {
    const slow = { ...replica('slow'), latencyMs: 500 }
    const fast = { ...replica('fast'), latencyMs: 50 }
    const random = lcg(9)
    for (let i = 0; i < 50; i++) expect(pickLeastOutstanding([slow, fast], random)?.name).toBe('fast')
  })

  it('draws in proportion to weight when loads are equal', () => {
    const pool = [replica('a', 3), replica('b'), replica('c'), replica('d')]
    const random = lcg(5)
    const counts = new Map<string, number>()
    for (let i = 0; i < 30_000; i++) {
      const name = pickLeastOutstanding(pool, random)?.name ?? ''
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
    // Every pair is drawn by weight and the first drawn wins a tie: a is first drawn half the time.
    expect((counts.get('a') ?? 0) / 30_000).toBeCloseTo(0.5, 1)
  })
})

describe('rendezvous affinity with bounded load', () => {
  const bound = { epsilon: 0.25, slack: 0 }
  const names = ['gpu0', 'gpu1', 'gpu2', 'gpu3']

  it('sends a key to the top of its rendezvous order while it has room', () => {
    const pool = names.map((n) => replica(n))
    for (let i = 0; i < 50; i++) {
      const key = keyOf(`image ${i}`)
      expect(pickAffinity(pool, key, bound)).toBe(rendezvousOrder(pool, key)[0])
    }
  })

  it('moves only the keys of a removed replica', () => {
    const pool = names.map((n) => replica(n))
    const fewer = pool.filter((r) => r.name !== 'gpu2')
    for (let i = 0; i < 500; i++) {
      const key = keyOf(`image ${i}`)
      const before = pickAffinity(pool, key, bound)
      if (before?.name !== 'gpu2') expect(pickAffinity(fewer, key, bound)).toBe(before)
    }
  })

  it('spreads keys over replicas by weight', () => {
    const pool = [replica('a', 2), replica('b'), replica('c')]
    const counts = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) {
      const name = pickAffinity(pool, keyOf(`k${i}`), bound)?.name ?? ''
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
    expect((counts.get('a') ?? 0) / 20_000).toBeCloseTo(0.5, 1)
    expect((counts.get('b') ?? 0) / 20_000).toBeCloseTo(0.25, 1)
  })

  it('passes a key to the next in its order when its replica is at capacity, and back when it is not', () => {
    const pool = names.map((n) => replica(n))
    const key = keyOf('hot image')
    const [first, second] = rendezvousOrder(pool, key)
    if (!first || !second) throw new Error('four replicas')
    // 8 in flight, all on its replica: capacity ceil(1.25 x 9 / 4) = 3.
    first.outstanding = 8
    expect(pickAffinity(pool, key, bound)).toBe(second)
    for (const r of pool) r.outstanding = 2 // 8 in flight, evenly: room under 3
    expect(pickAffinity(pool, key, bound)).toBe(first)
    for (const r of pool) r.outstanding = 0
    first.outstanding = 8
    expect(pickAffinity(pool, key, { epsilon: 0.25, slack: 6 })).toBe(first) // the slack: 3 + 6 > 8
  })
})
