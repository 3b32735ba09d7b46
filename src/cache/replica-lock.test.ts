import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../config/load.js'
import { createLogger } from '../lib/logger.js'
import { createMetrics } from '../metrics/metrics.js'
import { MemoryStore } from '../store/memory-store.js'
import type { CachedCompletion } from './entry.js'
import { ReplicaLock, type Claim } from './replica-lock.js'
import { ResponseCache } from './response-cache.js'

// The replica lock on the in-memory store (whose lock semantics are Redis's, held to the same
// contract): what waiters, leaders and lost replies do. Redis itself is in test/integration.

const cacheConfig = loadConfig({}, { backends: { b: { baseUrl: 'http://127.0.0.1:9/v1' } }, models: [{ id: 'm', backend: 'b' }] }).config
  .cache
const ENTRY: CachedCompletion = {
  id: 'x',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'answer' }, finish_reason: 'stop', logprobs: null }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  usageSource: 'upstream',
  storedAt: 1,
}
const never = new AbortController().signal

function setup(options: Partial<{ lockTtlMs: number; waitMs: number; pollMs: number }> = {}, clock = { now: () => Date.now() }) {
  const store = new MemoryStore(1 << 20, clock)
  const responses = new ResponseCache(store, cacheConfig, createMetrics({ defaultMetrics: false }), createLogger('silent'))
  const lock = new ReplicaLock(store, responses, { lockTtlMs: 60_000, waitMs: 5_000, pollMs: 1, ...options }, clock)
  return { store, responses, lock }
}
const finishOf = (claim: Claim) => {
  if (claim.kind !== 'lead') throw new Error(`expected to lead, got ${claim.kind}`)
  return claim.finish
}

afterEach(() => {
  vi.useRealTimers()
})

describe('ReplicaLock', () => {
  it('lets the first claimant lead under a random token, and its finish releases only its own lock', async () => {
    const { store, lock } = setup()
    const finish = finishOf(await lock.claim('k', never))
    const token = await store.get('k:lock')
    expect(token).toMatch(/^[0-9a-f-]{36}$/)
    await store.deleteIfEquals('k:lock', 'someone-else')
    expect(await store.get('k:lock')).toBe(token)
    await finish(undefined)
    expect(await store.get('k:lock')).toBeNull()
  })

  it('makes a second claimant wait for the answer the leader stores, stored and released in one step', async () => {
    const { store, lock } = setup()
    const finish = finishOf(await lock.claim('k', never))
    const waiting = lock.claim('k', never)
    await finish(ENTRY)
    expect(await waiting).toEqual({ kind: 'answer', entry: ENTRY })
    expect(await store.get('k:lock')).toBeNull()
    expect(JSON.parse((await store.get('k')) as string)).toEqual(ENTRY)
  })

  it('hands the lead to a waiter when the leader finishes without an answer', async () => {
    const { lock } = setup()
    const finish = finishOf(await lock.claim('k', never))
    const waiting = lock.claim('k', never)
    await finish(undefined)
    expect((await waiting).kind).toBe('lead')
  })

  it('goes alone when the waiter gives up: patience over or client gone', async () => {
    const { lock } = setup({ waitMs: 5 })
    await lock.claim('k', never)
    expect(await lock.claim('k', never)).toEqual({ kind: 'alone' })
    const gone = new AbortController()
    gone.abort()
    expect(await lock.claim('k', gone.signal)).toEqual({ kind: 'alone' })
  })

  it('goes alone when the store fails', async () => {
    const { store, lock } = setup()
    store.lookup = async () => {
      throw new Error('redis down')
    }
    expect(await lock.claim('k', never)).toEqual({ kind: 'alone' })
  })

  it('returns the answer instead of leading when another replica stored it and let go just before', async () => {
    const { responses, lock } = setup()
    await responses.put('k', ENTRY)
    expect(await lock.claim('k', never)).toEqual({ kind: 'answer', entry: ENTRY })
  })
})

describe('ReplicaLock leases', () => {
  const LEASE = 3_000
  const fakeClock = { now: () => Date.now() }

  it('keeps a live leader’s lock for as long as it works, renewing it every third of a lease', async () => {
    vi.useFakeTimers()
    const { store, lock } = setup({ lockTtlMs: LEASE, waitMs: 60_000, pollMs: 50 }, fakeClock)
    const finish = finishOf(await lock.claim('k', never))
    await vi.advanceTimersByTimeAsync(5 * LEASE)
    expect(await store.get('k:lock')).not.toBeNull()
    await finish(undefined)
    expect(await store.get('k:lock')).toBeNull()
    await vi.advanceTimersByTimeAsync(LEASE) // no renewal brings it back after release
    expect(await store.get('k:lock')).toBeNull()
  })

  it('lets a waiter take over within one lease when the leader dies (stops renewing)', async () => {
    vi.useFakeTimers()
    const { store, lock } = setup({ lockTtlMs: LEASE, waitMs: 60_000, pollMs: 50 }, fakeClock)
    // The "dead" leader: takes the lock by hand and never renews it, as a killed replica would.
    await store.setIfAbsent('k:lock', 'dead-leader', LEASE)
    const started = Date.now()
    let claim: Claim | undefined
    let tookOverAt = 0
    void lock.claim('k', never).then((c) => {
      claim = c
      tookOverAt = Date.now()
    })
    await vi.advanceTimersByTimeAsync(LEASE - 100)
    expect(claim).toBeUndefined() // still waiting while the lease may be live
    await vi.advanceTimersByTimeAsync(200)
    expect(claim?.kind).toBe('lead')
    expect(tookOverAt - started).toBeLessThanOrEqual(LEASE + 50)
  })

  it('stops renewing a lock it lost (another replica holds it now), and does not release theirs', async () => {
    vi.useFakeTimers()
    const { store, lock } = setup({ lockTtlMs: LEASE, waitMs: 60_000, pollMs: 50 }, fakeClock)
    const finish = finishOf(await lock.claim('k', never))
    // The leader was cut off for longer than a lease: its lock lapsed and another replica took it.
    await store.deleteIfEquals('k:lock', (await store.get('k:lock')) ?? '')
    await store.setIfAbsent('k:lock', 'other-replica', LEASE)
    await vi.advanceTimersByTimeAsync(LEASE / 2)
    await finish(ENTRY)
    expect(await store.get('k:lock')).toBe('other-replica')
    expect(await store.get('k')).not.toBeNull() // its answer is stored all the same
  })

  it('releases a lock it may have taken when the claim’s reply was lost, and goes alone', async () => {
    const { store, lock } = setup()
    const lookup = store.lookup.bind(store)
    store.lookup = async (key, ref) => {
      await lookup(key, ref) // it ran on the server...
      throw new Error('timed out') // ...but the reply never came
    }
    expect(await lock.claim('k', never)).toEqual({ kind: 'alone' })
    expect(await store.get('k:lock')).toBeNull()
  })
})
