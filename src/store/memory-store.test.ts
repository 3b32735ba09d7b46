import { describe, it, expect } from 'vitest'
import { MemoryStore } from './memory-store.js'

/** A clock the test moves by hand: nothing here waits for real time. */
function fakeClock(start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}

/** The store's accounting: UTF-16 code units of key and value, two bytes each. */
const cost = (key: string, value: string): number => 2 * (key.length + value.length)

const HOUR = 3_600_000

describe('MemoryStore: get/set', () => {
  it('returns what was set, and null for a key never set', async () => {
    const store = new MemoryStore(1024, fakeClock())
    await store.set('k', 'value', HOUR)
    expect(await store.get('k')).toBe('value')
    expect(await store.get('other')).toBeNull()
  })

  it('keeps an empty string as a value, distinct from a miss', async () => {
    const store = new MemoryStore(1024, fakeClock())
    await store.set('k', '', HOUR)
    expect(await store.get('k')).toBe('')
  })

  it('returns the latest value after an overwrite', async () => {
    const store = new MemoryStore(1024, fakeClock())
    await store.set('k', 'one', HOUR)
    await store.set('k', 'two', HOUR)
    expect(await store.get('k')).toBe('two')
  })

  it('is kind "memory" and ping() is true', async () => {
    const store = new MemoryStore(1024, fakeClock())
    expect(store.kind).toBe('memory')
    expect(await store.ping()).toBe(true)
  })

  it('close() empties the store', async () => {
    const store = new MemoryStore(1024, fakeClock())
    await store.set('k', 'v', HOUR)
    await store.close()
    expect(store.bytes).toBe(0)
    expect(await store.get('k')).toBeNull()
  })
})

describe('MemoryStore: TTL', () => {
  it('serves an entry until its TTL has passed, then misses', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(1024, clock)
    await store.set('k', 'v', 1000)
    clock.advance(999)
    expect(await store.get('k')).toBe('v')
    clock.advance(1)
    expect(await store.get('k')).toBeNull()
  })

  it('peek reads as get does, at once: the value, null for a miss, null once the TTL has passed', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(1024, clock)
    await store.set('k', 'v', 1000)
    expect(store.peek('k')).toBe('v')
    expect(store.peek('other')).toBeNull()
    clock.advance(1000)
    expect(store.peek('k')).toBeNull()
    expect(store.bytes).toBe(0)
  })

  it('frees the bytes of an expired entry when it is read', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(1024, clock)
    await store.set('k', 'v', 1000)
    expect(store.bytes).toBe(cost('k', 'v'))
    clock.advance(1000)
    await store.get('k')
    expect(store.bytes).toBe(0)
  })

  it('does not extend the TTL on read', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(1024, clock)
    await store.set('k', 'v', 1000)
    clock.advance(600)
    expect(await store.get('k')).toBe('v')
    clock.advance(600)
    expect(await store.get('k')).toBeNull()
  })

  it('restarts the TTL when a key is overwritten', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(1024, clock)
    await store.set('k', 'old', 1000)
    clock.advance(900)
    await store.set('k', 'new', 1000)
    clock.advance(900)
    expect(await store.get('k')).toBe('new')
  })

  it('keeps entries with different TTLs apart', async () => {
    const clock = fakeClock()
    const store = new MemoryStore(1024, clock)
    await store.set('short', 'v', 100)
    await store.set('long', 'v', 10_000)
    clock.advance(5_000)
    expect(await store.get('short')).toBeNull()
    expect(await store.get('long')).toBe('v')
  })
})

describe('MemoryStore: byte-bounded LRU', () => {
  // Each entry: 1-char key + 9-char value = 20 bytes; 60 bytes hold exactly three.
  const value = 'x'.repeat(9)
  const ENTRY = cost('a', value)
  const newStore = () => new MemoryStore(3 * ENTRY, fakeClock())

  it('counts bytes as twice the UTF-16 length of key and value', async () => {
    const store = newStore()
    await store.set('a', value, HOUR)
    await store.set('b', value, HOUR)
    expect(store.bytes).toBe(2 * ENTRY)
  })

  it('holds entries up to exactly maxBytes without evicting', async () => {
    const store = newStore()
    for (const key of ['a', 'b', 'c']) await store.set(key, value, HOUR)
    expect(store.bytes).toBe(3 * ENTRY)
    for (const key of ['a', 'b', 'c']) expect(await store.get(key)).toBe(value)
  })

  it('evicts the least recently set entry first when full', async () => {
    const store = newStore()
    for (const key of ['a', 'b', 'c', 'd']) await store.set(key, value, HOUR)
    expect(await store.get('a')).toBeNull()
    expect(await store.get('b')).toBe(value)
    expect(await store.get('c')).toBe(value)
    expect(await store.get('d')).toBe(value)
    expect(store.bytes).toBe(3 * ENTRY)
  })

  it('counts a get as a use: the entry read is kept, the oldest unread one goes', async () => {
    const store = newStore()
    for (const key of ['a', 'b', 'c']) await store.set(key, value, HOUR)
    expect(await store.get('a')).toBe(value) // a is now the most recently used
    await store.set('d', value, HOUR)
    expect(await store.get('b')).toBeNull()
    expect(await store.get('a')).toBe(value)
    expect(await store.get('c')).toBe(value)
    expect(await store.get('d')).toBe(value)
  })

  it('counts an overwrite as a use', async () => {
    const store = newStore()
    for (const key of ['a', 'b', 'c']) await store.set(key, value, HOUR)
    await store.set('a', value, HOUR)
    await store.set('d', value, HOUR)
    expect(await store.get('a')).toBe(value)
    expect(await store.get('b')).toBeNull()
  })

  it('evicts as many old entries as a large new one needs', async () => {
    const store = newStore()
    for (const key of ['a', 'b', 'c']) await store.set(key, value, HOUR)
    const big = 'y'.repeat(19) // 'e' + 19 chars = 40 bytes: room for it means dropping two
    await store.set('e', big, HOUR)
    expect(await store.get('a')).toBeNull()
    expect(await store.get('b')).toBeNull()
    expect(await store.get('c')).toBe(value)
    expect(await store.get('e')).toBe(big)
    expect(store.bytes).toBe(ENTRY + cost('e', big))
  })

  it('does not store a value larger than maxBytes, and evicts nothing for it', async () => {
    const store = newStore()
    for (const key of ['a', 'b']) await store.set(key, value, HOUR)
    await store.set('huge', 'z'.repeat(3 * ENTRY), HOUR)
    expect(await store.get('huge')).toBeNull()
    expect(await store.get('a')).toBe(value)
    expect(await store.get('b')).toBe(value)
    expect(store.bytes).toBe(2 * ENTRY)
  })

  it('does not double-count bytes when a key is overwritten', async () => {
    const store = newStore()
    await store.set('a', value, HOUR)
    await store.set('a', value, HOUR)
    await store.set('a', value, HOUR)
    expect(store.bytes).toBe(ENTRY)
    await store.set('a', 'short', HOUR)
    expect(store.bytes).toBe(cost('a', 'short'))
  })

  it('does not evict other entries when overwriting a key at full capacity with a same-size value', async () => {
    const store = newStore()
    for (const key of ['a', 'b', 'c']) await store.set(key, value, HOUR)
    await store.set('b', 'y'.repeat(9), HOUR)
    expect(await store.get('a')).toBe(value)
    expect(await store.get('b')).toBe('y'.repeat(9))
    expect(await store.get('c')).toBe(value)
    expect(store.bytes).toBe(3 * ENTRY)
  })
})

describe('MemoryStore locks', () => {
  it('sets only when absent or expired, and deletes only the matching value', async () => {
    let t = 0
    const store = new MemoryStore(1 << 20, { now: () => t })
    expect(await store.setIfAbsent('lock', 'a', 100)).toBe(true)
    expect(await store.setIfAbsent('lock', 'b', 100)).toBe(false)
    await store.deleteIfEquals('lock', 'b')
    expect(await store.get('lock')).toBe('a')
    t = 100
    expect(await store.setIfAbsent('lock', 'b', 100)).toBe(true) // the first one expired
    await store.deleteIfEquals('lock', 'b')
    expect(await store.get('lock')).toBeNull()
  })
})

describe('MemoryStore budget counters', () => {
  it('keeps counters apart from the cache LRU, so filling the cache cannot reset a budget', async () => {
    const store = new MemoryStore(1_024, { now: () => 0 })
    await store.reserve('lease-1', [{ key: 'budget', limit: 10, ttlMs: 60_000 }], 10, 30_000)
    for (let i = 0; i < 100; i++) await store.set(`cache-${i}`, 'x'.repeat(100), 60_000)
    expect(await store.reserve('lease-2', [{ key: 'budget', limit: 10, ttlMs: 60_000 }], 1, 30_000)).toEqual({
      ok: false,
      index: 0,
      used: 10,
    })
  })

  it('close() drops the budget counters too', async () => {
    const store = new MemoryStore(1 << 20, { now: () => 0 })
    await store.reserve('lease-1', [{ key: 'budget', limit: 10, ttlMs: 60_000 }], 10, 30_000)
    await store.close()
    expect(store.budgetCounterCount).toBe(0)
    expect(await store.read(['budget'])).toEqual([{ settled: 0, reserved: 0 }])
  })

  it('drops expired counters as new windows open, so the map does not grow without bound', async () => {
    let t = 0
    const store = new MemoryStore(1 << 20, { now: () => t })
    for (let minute = 0; minute < 10_000; minute++) {
      t = minute * 60_000
      await store.reserve(`lease-${minute}`, [{ key: `k:minute:${minute}`, limit: 100, ttlMs: 60_000 }], 1, 30_000)
    }
    expect(store.budgetCounterCount).toBeLessThanOrEqual(128)
  })
})

describe('MemoryStore lock leases', () => {
  it('extends a lock only while it holds the given value', async () => {
    let t = 0
    const store = new MemoryStore(1 << 20, { now: () => t })
    await store.setIfAbsent('lock', 'mine', 100)
    t = 90
    expect(await store.extendIfEquals('lock', 'theirs', 100)).toBe(false)
    expect(await store.extendIfEquals('lock', 'mine', 100)).toBe(true)
    t = 180 // past the first lease, within the renewed one
    expect(await store.get('lock')).toBe('mine')
    t = 190
    expect(await store.get('lock')).toBeNull()
    expect(await store.extendIfEquals('lock', 'mine', 100)).toBe(false) // gone: nothing to renew
    expect(await store.get('lock')).toBeNull()
  })
})
