import { describe, expect, it } from 'vitest'
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
  it('lets the first claimant lead, and releases only its own lock', async () => {
    const { store, lock } = setup()
    const claim = await lock.claim('k', 'req-1', never)
    expect(claim.kind).toBe('lead')
    expect(await store.get('k:lock')).toBe('req-1')
    await store.deleteIfEquals('k:lock', 'req-2')
    expect(await store.get('k:lock')).toBe('req-1')
    if (claim.kind === 'lead') await claim.release()
    expect(await store.get('k:lock')).toBeNull()
  })

  it('makes a second claimant wait for the answer the leader stores', async () => {
    let stored: CachedCompletion | undefined = undefined
    const { lock } = setup(async () => stored)
    await lock.claim('k', 'leader', never)
    const waiting = lock.claim('k', 'follower', never)
    stored = ENTRY
    expect(await waiting).toEqual({ kind: 'answer', entry: ENTRY })
  })

  it('hands the lead to a waiter when the leader releases without an answer', async () => {
    const { lock } = setup()
    const leader = await lock.claim('k', 'leader', never)
    const waiting = lock.claim('k', 'follower', never)
    if (leader.kind === 'lead') await leader.release()
    expect((await waiting).kind).toBe('lead')
  })

  it('goes alone when the waiter gives up: patience over or client gone', async () => {
    const { store } = setup()
    const impatient = new ReplicaLock(store, async () => undefined, { ...options, waitMs: 5 }, clock)
    await impatient.claim('k', 'leader', never)
    expect(await impatient.claim('k', 'follower', never)).toEqual({ kind: 'alone' })
    const gone = new AbortController()
    gone.abort()
    expect(await impatient.claim('k', 'other', gone.signal)).toEqual({ kind: 'alone' })
  })

  it('goes alone when the store fails', async () => {
    const broken = new MemoryStore(1 << 20, clock)
    broken.setIfAbsent = async () => {
      throw new Error('redis down')
    }
    const { lock } = setup(async () => undefined, broken)
    expect(await lock.claim('k', 'req', never)).toEqual({ kind: 'alone' })
  })
})

describe('ReplicaLock races', () => {
  it('takes the answer, not the lead, when the leader stored it and let go between two looks', async () => {
    const store = new MemoryStore(1 << 20, clock)
    let reads = 0
    // The first read misses; by the time the waiter sees the lock gone, the answer is there.
    const read = async () => (++reads >= 2 ? ENTRY : undefined)
    const lock = new ReplicaLock(store, read, options, clock)
    const leader = await lock.claim('k', 'leader', never)
    const waiting = lock.claim('k', 'follower', never)
    if (leader.kind === 'lead') await leader.release()
    expect(await waiting).toEqual({ kind: 'answer', entry: ENTRY })
  })
})

describe('ReplicaLock: answered while this request was missing', () => {
  it('returns the answer instead of leading when another replica stored it and let go just before', async () => {
    // This request missed the cache; meanwhile another replica answered, stored and released.
    const { lock } = setup(async () => ENTRY)
    expect(await lock.claim('k', 'late', never)).toEqual({ kind: 'answer', entry: ENTRY })
  })
})
