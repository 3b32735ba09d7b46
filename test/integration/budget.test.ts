import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { createLogger } from '../../src/lib/logger.js'
import { countPromptTokens } from '../../src/meter/prompt-tokens.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { startBlackhole } from '../helpers/blackhole.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { ready } from '../helpers/redis.js'
import { buildTestApp, chatRequest, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// Budgets in a real Redis: one atomic reservation for every replica, and a stated policy for
// when Redis cannot be asked.

const log = createLogger('silent')
const PROMPT = countPromptTokens([{ role: 'user', content: 'hi' }], {
  template: 'llava-1.5',
  imagePolicy: { policy: 'fixed', tokensPerImage: 576 },
}).total
const stores: RedisStore[] = []
let upstream: FakeUpstream

// CI shares two cores between test workers and Redis, so an answer can take longer than the
// product's 50 ms command timeout; that would turn hits into misses, which these tests do not mean
// to test. Tests of a hung Redis set the short timeout themselves.
const redis = async (url = inject('redisUrl')) => {
  const store = new RedisStore({ url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log })
  stores.push(store)
  if (url === inject('redisUrl')) await ready(store)
  return store
}
const config = (extra: Partial<ConfigInput> = {}): ConfigInput => ({
  ...testConfig(upstream.baseUrl),
  keys: [{ alias: 'limited', secret: TEST_KEY, budgets: [{ window: 'day', tokens: 1000 }] }],
  cache: { keyPrefix: `test:${crypto.randomUUID()}:` },
  ...extra,
})

beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterEach(async () => {
  upstream.calls.length = 0
  await Promise.all(stores.splice(0).map((s) => s.close()))
})
afterAll(() => upstream.close())

describe('budgets shared by replicas', () => {
  it('lets exactly as many concurrent requests through as fit, across two replicas', async () => {
    const reservation = PROMPT + 90
    const fit = Math.floor(1000 / reservation)
    const { release } = upstream.holdAnswers((res) =>
      replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: 90, total_tokens: reservation } })),
    )
    const shared = config()
    const a = buildTestApp(shared, { store: await redis() })
    const b = buildTestApp(shared, { store: await redis() })
    const all = Array.from({ length: 30 }, async (_, i) =>
      (i % 2 === 0 ? a : b).app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), max_tokens: 90 })),
    )
    await upstream.untilCalls(fit)
    release()
    const statuses = (await Promise.all(all)).map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(fit)
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - fit)
    expect(upstream.calls).toHaveLength(fit)
  })

  it('keeps the counter in Redis, expiring after its window, and settles it to the actual usage', async () => {
    upstream.handle((_call, res) =>
      replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: 10, total_tokens: PROMPT + 10 } })),
    )
    const store = await redis()
    const shared = config()
    const { app } = buildTestApp(shared, { store })
    expect((await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), max_tokens: 500 }))).status).toBe(200)
    const [key] = await store.client.keys(`${shared.cache?.keyPrefix}budget:{default}:key:limited:day:????????`)
    expect(key).toBeDefined()
    // Settled after the response, once the request has finished: wait for the lease to be gone.
    await until(async () => (await store.read([key!]))[0]?.reserved === 0)
    expect(await store.read([key!])).toEqual([{ settled: PROMPT + 10, reserved: 0 }])
    const ttl = await store.client.pttl(key!)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(24 * 3600 * 1000 + 20 * 60 * 1000)
  })
})

describe('when Redis cannot be asked', () => {
  it('refuses with 503 budget_unavailable by default (fail closed)', async () => {
    const blackhole = await startBlackhole()
    try {
      const { app, deps } = buildTestApp(config(), { store: await redis(blackhole.url) })
      const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
      expect(res.headers.get('retry-after')).toBe('1')
      await errorOf(res, 503, 'budget_unavailable')
      expect(upstream.calls).toHaveLength(0)
      expect(await counterSum(deps.metrics.budgetStoreFailures, { outcome: 'refused' })).toBe(1)
    } finally {
      await blackhole.close()
    }
  })

  it('lets requests through unmetered when config says fail open', async () => {
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion()))
    const blackhole = await startBlackhole()
    try {
      const { app, deps } = buildTestApp(config({ budget: { whenStoreFails: 'open' } }), { store: await redis(blackhole.url) })
      expect((await app.request('/v1/chat/completions', chatRequest(userText('hi')))).status).toBe(200)
      expect(await counterSum(deps.metrics.budgetStoreFailures, { outcome: 'allowed' })).toBe(1)
    } finally {
      await blackhole.close()
    }
  })
})

/** Polls a real condition that no event announces (a settlement after the response), for at most 2 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('condition not met within 2 s')
}
