import { describe, it, expect, vi } from 'vitest'
import type { Logger } from 'pino'
import { counterSum } from '../../test/helpers/metric-values.js'
import { loadConfig } from '../config/load.js'
import type { CacheConfig } from '../config/schema.js'
import { createMetrics } from '../metrics/metrics.js'
import type { CounterState, ReserveResult, Store } from '../store/store.js'
import type { CachedCompletion } from './entry.js'
import { ASK_THE_STORE, ResponseCache } from './response-cache.js'

function cacheConfig(cache: Record<string, unknown> = {}): CacheConfig {
  return loadConfig(
    {},
    {
      backends: { main: { baseUrl: 'http://127.0.0.1:9', kind: 'openai' } },
      models: [{ id: 'm', backend: 'main' }],
      keys: [{ alias: 'k', team: 't', secret: 'sk-test' }],
      cache,
    },
  ).config.cache
}

/** A store the test controls: it keeps what is set, and fails every call while `failing` is set. */
class FakeStore implements Store {
  readonly kind = 'redis' as const
  readonly values = new Map<string, string>()
  readonly sets: Array<{ key: string; value: string; ttlMs: number }> = []
  failing: unknown

  async get(key: string): Promise<string | null> {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a store may reject with anything; the cache must cope
    if (this.failing) throw this.failing
    return this.values.get(key) ?? null
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- as in get()
    if (this.failing) throw this.failing
    this.sets.push({ key, value, ttlMs })
    this.values.set(key, value)
  }

  async lookup(key: string): Promise<{ value: string | null; locked: boolean }> {
    return { value: await this.get(key), locked: false }
  }

  async storeAndRelease(key: string, value: string | undefined, ttlMs: number): Promise<void> {
    if (value !== undefined) await this.set(key, value, ttlMs)
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.values.has(key)) return false
    await this.set(key, value, ttlMs)
    return true
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    if (this.values.get(key) === value) this.values.delete(key)
  }

  async extendIfEquals(key: string, value: string): Promise<boolean> {
    return this.values.get(key) === value
  }

  // Budgets are not what this cache test is about.
  async reserve(): Promise<ReserveResult> {
    return { ok: true, totals: [] }
  }
  async settle(): Promise<void> {}
  async renew(): Promise<void> {}
  async charge(): Promise<void> {}
  async read(): Promise<CounterState[]> {
    return []
  }

  async ping(): Promise<boolean> {
    return !this.failing
  }

  async close(): Promise<void> {}
}

function fakeLog() {
  const warn = vi.fn()
  const info = vi.fn()
  return { log: { warn, info } as unknown as Logger, warn, info }
}

const ENTRY: CachedCompletion = {
  id: 'chatcmpl-1',
  created: 1_700_000_000,
  model: 'llava',
  choices: [{ index: 0, message: { role: 'assistant', content: 'A cat.' }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 600, completion_tokens: 3, total_tokens: 603 },
  usageSource: 'upstream',
  storedAt: 1_700_000_000_000,
}

function setup(cache: Record<string, unknown> = {}) {
  const store = new FakeStore()
  const metrics = createMetrics({ defaultMetrics: false })
  const { log, warn, info } = fakeLog()
  const responses = new ResponseCache(store, cacheConfig(cache), metrics, log)
  const errors = () => counterSum(metrics.cacheLookups, { result: 'error' })
  return { store, metrics, responses, warn, info, errors }
}

describe('ResponseCache: get', () => {
  it('treats a store that rejects with something other than an Error as a failed read', async () => {
    const { store, responses, errors, warn } = setup()
    store.failing = undefined
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the odd rejection is the case under test
    store.get = async () => Promise.reject(undefined)
    expect(await responses.get('k')).toBeUndefined()
    expect(await errors()).toBe(1)
    expect(warn).toHaveBeenCalledTimes(1)
  })

  it('returns what put stored', async () => {
    const { responses } = setup()
    await responses.put('k', ENTRY)
    expect(await responses.get('k')).toEqual(ENTRY)
  })

  it('is undefined for a key never stored, and counts no error', async () => {
    const { responses, errors } = setup()
    expect(await responses.get('missing')).toBeUndefined()
    expect(await errors()).toBe(0)
  })

  it('is undefined for a damaged stored value, and counts no error', async () => {
    const { responses, store, errors, warn } = setup()
    store.values.set('truncated', JSON.stringify(ENTRY).slice(0, 50))
    store.values.set('wrong-shape', JSON.stringify({ hello: 'world' }))
    expect(await responses.get('truncated')).toBeUndefined()
    expect(await responses.get('wrong-shape')).toBeUndefined()
    expect(await errors()).toBe(0)
    expect(warn).not.toHaveBeenCalled()
  })

  it('turns a read error into a miss and counts cacheLookups{result="error"} once', async () => {
    const { responses, store, errors } = setup()
    store.values.set('k', JSON.stringify(ENTRY))
    store.failing = new Error('ECONNREFUSED')
    await expect(responses.get('k')).resolves.toBeUndefined()
    expect(await errors()).toBe(1)
  })
})

describe('ResponseCache: put', () => {
  it('stores with a TTL of ttlSeconds * 1000 ms', async () => {
    const { responses, store } = setup({ ttlSeconds: 90 })
    await responses.put('k', ENTRY)
    expect(store.sets).toEqual([{ key: 'k', value: JSON.stringify(ENTRY), ttlMs: 90_000 }])
  })

  it('skips entries larger than maxEntryBytes (counted in UTF-8 bytes), and stores ones that fit', async () => {
    const { responses, store, errors } = setup({ maxEntryBytes: 2_048 })
    const big: CachedCompletion = {
      ...ENTRY,
      choices: [{ ...ENTRY.choices[0]!, message: { role: 'assistant', content: 'x'.repeat(3_000) } }],
    }
    await responses.put('big', big)
    expect(store.sets).toHaveLength(0)
    expect(await errors()).toBe(0)

    // 700 three-byte characters: 700 UTF-16 code units, but 2,100 bytes once encoded.
    const wide: CachedCompletion = {
      ...ENTRY,
      choices: [{ ...ENTRY.choices[0]!, message: { role: 'assistant', content: '猫'.repeat(700) } }],
    }
    expect(JSON.stringify(wide).length).toBeLessThan(2_048)
    await responses.put('wide', wide)
    expect(store.sets).toHaveLength(0)

    await responses.put('small', ENTRY)
    expect(store.sets.map((s) => s.key)).toEqual(['small'])
  })

  it('swallows a write error and counts it', async () => {
    const { responses, store, errors } = setup()
    store.failing = new Error('READONLY')
    await expect(responses.put('k', ENTRY)).resolves.toBeUndefined()
    expect(await errors()).toBe(1)
  })
})

describe('ResponseCache: logging once per episode', () => {
  it('three failures → one warn; then a success → one info; then a failure → a second warn', async () => {
    const { responses, store, warn, info, errors } = setup()
    store.failing = new Error('ECONNREFUSED')
    await responses.get('a')
    await responses.put('b', ENTRY)
    await responses.get('c')
    expect(warn).toHaveBeenCalledTimes(1)
    expect(info).not.toHaveBeenCalled()
    expect(await errors()).toBe(3)

    store.failing = undefined
    await responses.get('a')
    await responses.put('b', ENTRY)
    expect(info).toHaveBeenCalledTimes(1)
    expect(warn).toHaveBeenCalledTimes(1)

    store.failing = new Error('ETIMEDOUT')
    await responses.get('a')
    expect(warn).toHaveBeenCalledTimes(2)
    expect(info).toHaveBeenCalledTimes(1)
    expect(await errors()).toBe(4)
  })

  it('logs the operation, the store kind and the error message, never the key or the value', async () => {
    const { responses, store, warn, info } = setup()
    store.failing = new Error('ECONNREFUSED 127.0.0.1:6379')
    await responses.put('secret-key-name', ENTRY)
    expect(warn).toHaveBeenCalledWith({ operation: 'write', store: 'redis', message: 'ECONNREFUSED 127.0.0.1:6379' }, expect.any(String))
    store.failing = undefined
    await responses.get('k')
    expect(info).toHaveBeenCalledWith({ store: 'redis' }, expect.any(String))
    expect(JSON.stringify([warn.mock.calls, info.mock.calls])).not.toContain('secret-key-name')
  })

  it('logs nothing while the store keeps working', async () => {
    const { responses, warn, info } = setup()
    await responses.put('k', ENTRY)
    await responses.get('k')
    await responses.get('other')
    expect(warn).not.toHaveBeenCalled()
    expect(info).not.toHaveBeenCalled()
  })

  it('a skipped oversized write is not a recovery: no info line during a failing episode', async () => {
    const { responses, store, warn, info } = setup({ maxEntryBytes: 1_024 })
    store.failing = new Error('down')
    await responses.get('k')
    const big: CachedCompletion = {
      ...ENTRY,
      choices: [{ ...ENTRY.choices[0]!, message: { role: 'assistant', content: 'x'.repeat(2_000) } }],
    }
    await responses.put('k', big)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(info).not.toHaveBeenCalled()
  })
})

describe('ResponseCache: getNow', () => {
  it('asks for get (ASK_THE_STORE) when the store cannot be read at once, as Redis cannot', async () => {
    const { responses, store } = setup()
    await responses.put('k', ENTRY)
    expect('peek' in store).toBe(false)
    expect(responses.getNow('k')).toBe(ASK_THE_STORE)
  })

  it('reads a store that holds its entries in this process at once: the entry, undefined for a miss or a damaged value', async () => {
    const { responses, store, errors } = setup()
    const peeking = Object.assign(store, { peek: (key: string) => store.values.get(key) ?? null })
    await responses.put('k', ENTRY)
    peeking.values.set('truncated', JSON.stringify(ENTRY).slice(0, 50))
    expect(responses.getNow('k')).toEqual(ENTRY)
    expect(responses.getNow('missing')).toBeUndefined()
    expect(responses.getNow('truncated')).toBeUndefined()
    expect(await errors()).toBe(0)
  })

  it('treats a read that throws as a miss, counted and logged once, and logs when reads work again', async () => {
    const { responses, store, errors, warn, info } = setup()
    let failing = true
    Object.assign(store, {
      peek: (key: string) => {
        if (failing) throw new Error('store broke')
        return store.values.get(key) ?? null
      },
    })
    expect(responses.getNow('k')).toBeUndefined()
    expect(responses.getNow('k')).toBeUndefined()
    expect(await errors()).toBe(2)
    expect(warn).toHaveBeenCalledTimes(1)
    failing = false
    expect(responses.getNow('k')).toBeUndefined()
    expect(info).toHaveBeenCalledTimes(1)
  })
})
