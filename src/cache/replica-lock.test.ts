import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../store/memory-store.js'
import type { Store } from '../store/store.js'
import type { CachedCompletion } from './entry.js'
import { ReplicaLock } from './replica-lock.js'

const clock = { now: () => Date.now() }
const ENTRY = {
  id: 'x',
  choices: [],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  storedAt: 1,
} as unknown as CachedCompletion
const options = { lockTtlMs: 60_000, waitMs: 5_000, pollMs: 1 }
const never = new AbortController().signal

function setup(
  read: (key: string) => Promise<CachedCompletion | undefined> = async () => undefined,
  store: Store = new MemoryStore(1 << 20, clock),
) {
  return { store, lock: new ReplicaLock(store, read, options, clock) }
}

describe('ReplicaLock', () => {
  it('lets the first claimant lead under a random token, and releases only its own lock', async () => {
    const { store, lock } = setup()
    const claim = await lock.claim('k', never)
    expect(claim.kind).toBe('lead')
    const token = await store.get('k:lock')
    expect(token).toMatch(/^[0-9a-f-]{36}$/)
    await store.deleteIfEquals('k:lock', 'someone-else')
    expect(await store.get('k:lock')).toBe(token)
    if (claim.kind === 'lead') await claim.release()
    expect(await store.get('k:lock')).toBeNull()
  })

  it('makes a second claimant wait for the answer the leader stores', async () => {
    let stored: CachedCompletion | undefined = undefined
    const { lock } = setup(async () => stored)
    await lock.claim('k', never)
    const waiting = lock.claim('k', never)
    stored = ENTRY
    expect(await waiting).toEqual({ kind: 'answer', entry: ENTRY })
  })

  it('hands the lead to a waiter when the leader releases without an answer', async () => {
    const { lock } = setup()
    const leader = await lock.claim('k', never)
    const waiting = lock.claim('k', never)
    if (leader.kind === 'lead') await leader.release()
    expect((await waiting).kind).toBe('lead')
  })

  it('goes alone when the waiter gives up: patience over or client gone', async () => {
    const { store } = setup()
    const impatient = new ReplicaLock(store, async () => undefined, { ...options, waitMs: 5 }, clock)
    await impatient.claim('k', never)
    expect(await impatient.claim('k', never)).toEqual({ kind: 'alone' })
    const gone = new AbortController()
    gone.abort()
    expect(await impatient.claim('k', gone.signal)).toEqual({ kind: 'alone' })
  })

  it('goes alone when the store fails', async () => {
    const broken = new MemoryStore(1 << 20, clock)
    broken.setIfAbsent = async () => {
      throw new Error('redis down')
    }
    const { lock } = setup(async () => undefined, broken)
    expect(await lock.claim('k', never)).toEqual({ kind: 'alone' })
  })
})

describe('ReplicaLock races', () => {
  it('takes the answer, not the lead, when the leader stored it and let go between two looks', async () => {
    const store = new MemoryStore(1 << 20, clock)
    let reads = 0
    // The first read misses; by the time the waiter sees the lock gone, the answer is there.
    const read = async () => (++reads >= 2 ? ENTRY : undefined)
    const lock = new ReplicaLock(store, read, options, clock)
    const leader = await lock.claim('k', never)
    const waiting = lock.claim('k', never)
    if (leader.kind === 'lead') await leader.release()
    expect(await waiting).toEqual({ kind: 'answer', entry: ENTRY })
  })
})

describe('ReplicaLock: answered while this request was missing', () => {
  it('returns the answer instead of leading when another replica stored it and let go just before', async () => {
    // This request missed the cache; meanwhile another replica answered, stored and released.
    const { lock } = setup(async () => ENTRY)
    expect(await lock.claim('k', never)).toEqual({ kind: 'answer', entry: ENTRY })
  })
})

describe('ReplicaLock leases', () => {
  afterEach(() => {
    vi.useRealTimers()
  })
  const LEASE = 3_000
  const leased = { lockTtlMs: LEASE, waitMs: 60_000, pollMs: 50 }
  const fakeClock = { now: () => Date.now() }

  it("keeps a live leader's lock for as long as it works, renewing it every third of a lease", async () => {
    vi.useFakeTimers()
    const store = new MemoryStore(1 << 20, fakeClock)
    const lock = new ReplicaLock(store, async () => undefined, leased, fakeClock)
    const leader = await lock.claim('k', never)
    await vi.advanceTimersByTimeAsync(5 * LEASE)
    expect(await store.get('k:lock')).not.toBeNull()
    if (leader.kind === 'lead') await leader.release()
    expect(await store.get('k:lock')).toBeNull()
    await vi.advanceTimersByTimeAsync(LEASE) // no renewal brings it back after release
    expect(await store.get('k:lock')).toBeNull()
  })

  it('lets a waiter take over within one lease when the leader dies (stops renewing)', async () => {
    vi.useFakeTimers()
    const store = new MemoryStore(1 << 20, fakeClock)
    // The "dead" leader: takes the lock by hand and never renews it, as a killed replica would.
    await store.setIfAbsent('k:lock', 'dead-leader', LEASE)
    const lock = new ReplicaLock(store, async () => undefined, leased, fakeClock)
    const started = Date.now()
    let claim: Awaited<ReturnType<ReplicaLock['claim']>> | undefined
    let tookOverAt = 0
    void lock.claim('k', never).then((c) => {
      claim = c
      tookOverAt = Date.now()
    })
    await vi.advanceTimersByTimeAsync(LEASE - 100)
    expect(claim).toBeUndefined() // still waiting while the lease may be live
    await vi.advanceTimersByTimeAsync(200)
    expect(claim?.kind).toBe('lead')
    expect(tookOverAt - started).toBeLessThanOrEqual(LEASE + leased.pollMs)
  })

  it('stops renewing a lock it lost (another replica holds it now), and does not release theirs', async () => {
    vi.useFakeTimers()
    const store = new MemoryStore(1 << 20, fakeClock)
    const lock = new ReplicaLock(store, async () => undefined, leased, fakeClock)
    const leader = await lock.claim('k', never)
    // The leader was cut off for longer than a lease: its lock lapsed and another replica took it.
    const token = await store.get('k:lock')
    await store.deleteIfEquals('k:lock', token ?? '')
    await store.setIfAbsent('k:lock', 'other-replica', LEASE)
    await vi.advanceTimersByTimeAsync(LEASE / 2)
    if (leader.kind === 'lead') await leader.release()
    expect(await store.get('k:lock')).toBe('other-replica')
  })

  it("releases a lock it may have taken when the claim's reply was lost, and goes alone", async () => {
    const store = new MemoryStore(1 << 20, clock)
    const setIfAbsent = store.setIfAbsent.bind(store)
    store.setIfAbsent = async (key, value, ttl) => {
      await setIfAbsent(key, value, ttl) // it ran on the server...
      throw new Error('timed out') // ...but the reply never came
    }
    const lock = new ReplicaLock(store, async () => undefined, options, clock)
    expect(await lock.claim('k', never)).toEqual({ kind: 'alone' })
    expect(await store.get('k:lock')).toBeNull()
  })
})
