import { afterEach, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { socketsOf } from '../../src/store/redis-client.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { startBlackhole } from '../helpers/blackhole.js'
import { ready } from '../helpers/redis.js'

const log = createLogger('silent')
const stores: RedisStore[] = []
// CI shares two cores between test workers and Redis, so an answer can take longer than the
// product's 50 ms command timeout; that would turn hits into misses, which these tests do not mean
// to test. Tests of a hung Redis set the short timeout themselves.
const open = (url: string, commandTimeoutMs = 1_000) => {
  const store = new RedisStore({ url, commandTimeoutMs, connectTimeoutMs: 1_000, log })
  stores.push(store)
  return store
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

describe('RedisStore against a real redis-server', () => {
  it('stores, reads back and expires values', async () => {
    const store = open(inject('redisUrl'))
    await ready(store)
    const key = `test:${crypto.randomUUID()}`
    await store.set(key, 'value', 60_000)
    expect(await store.get(key)).toBe('value')
    expect(await store.client.pttl(key)).toBeGreaterThan(59_000)
    expect(await store.get(`${key}:missing`)).toBeNull()
    expect(await store.ping()).toBe(true)
  })

  it('shares values between two clients, as two gateway replicas would', async () => {
    const a = open(inject('redisUrl'))
    const b = open(inject('redisUrl'))
    await Promise.all([ready(a), ready(b)])
    const key = `test:${crypto.randomUUID()}`
    await a.set(key, 'from a', 60_000)
    expect(await b.get(key)).toBe('from a')
  })
})

describe('RedisStore writes', () => {
  it('sends the commands issued in one phase of the event loop as one write, and answers each', async () => {
    const store = open(inject('redisUrl'))
    await ready(store)
    const key = `test:${crypto.randomUUID()}`
    await store.set(key, 'value', 60_000)
    // Each call of _write or _writev is one system call on the socket.
    const socket = socketsOf(store.client)[0] as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void }
    const writes: number[] = []
    const write = socket._write.bind(socket)
    const writev = socket._writev.bind(socket)
    socket._write = (...args) => {
      writes.push(1)
      write(...args)
    }
    socket._writev = (chunks, ...rest) => {
      writes.push((chunks as unknown[]).length)
      writev(chunks, ...rest)
    }
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => store.get(i % 2 ? key : `${key}:missing`)))
    expect(answers).toEqual(Array.from({ length: 8 }, (_, i) => (i % 2 ? 'value' : null)))
    expect(writes).toEqual([8])
  })
})

describe('RedisStore locks', () => {
  it('sets a key only when absent, and deletes it only while it holds the given value', async () => {
    const store = open(inject('redisUrl'))
    await ready(store)
    const key = `test:${crypto.randomUUID()}:lock`
    expect(await store.setIfAbsent(key, 'owner-1', 60_000)).toBe(true)
    expect(await store.setIfAbsent(key, 'owner-2', 60_000)).toBe(false)
    await store.deleteIfEquals(key, 'owner-2')
    expect(await store.get(key)).toBe('owner-1')
    await store.deleteIfEquals(key, 'owner-1')
    expect(await store.get(key)).toBeNull()
    expect(await store.setIfAbsent(key, 'owner-2', 60_000)).toBe(true)
  })
})

describe('RedisStore when Redis is hung', () => {
  it('fails each call fast instead of queueing it, and reports not reachable', async () => {
    const blackhole = await startBlackhole()
    try {
      const store = open(blackhole.url, 50)
      const started = Date.now()
      await expect(store.get('k')).rejects.toThrow()
      await expect(store.set('k', 'v', 1_000)).rejects.toThrow()
      expect(await store.ping()).toBe(false)
      // No offline queue: nothing waits for a connection that will never be ready.
      expect(Date.now() - started).toBeLessThan(1_000)
    } finally {
      await blackhole.close()
    }
  })
})

describe('llava_gateway_redis_up', () => {
  const redisUp = async (store: RedisStore) => {
    const text = await createMetrics({ defaultMetrics: false, redisPing: () => store.ping() }).registry.metrics()
    return /^llava_gateway_redis_up (\d)$/m.exec(text)?.[1]
  }

  it('is 1 while Redis answers and 0 while it hangs', async () => {
    const up = open(inject('redisUrl'))
    await ready(up)
    expect(await redisUp(up)).toBe('1')
    const blackhole = await startBlackhole()
    try {
      expect(await redisUp(open(blackhole.url))).toBe('0')
    } finally {
      await blackhole.close()
    }
  })

  it('is not exported at all with the embedded store', async () => {
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics()
    expect(text).not.toContain('redis_up')
  })
})
