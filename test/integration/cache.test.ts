import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { createLogger } from '../../src/lib/logger.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { png } from '../fixtures/images.js'
import { startBlackhole } from '../helpers/blackhole.js'
import { ready } from '../helpers/redis.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, chatRequest, MODEL, OTHER_KEY, TEST_KEY, testConfig } from '../helpers/test-app.js'

// The response cache against a real redis-server: shared by replicas, keyed on image bytes,
// replaying streams, coalescing identical misses, and never in the way when Redis is not.

const log = createLogger('silent')
let upstream: FakeUpstream
let imageHost: ImageServer
const stores: RedisStore[] = []
let config: ConfigInput

const PICTURE = png(64, 48, [200, 30, 30])
const OTHER_PICTURE = png(64, 48, [30, 200, 30])
// CI shares two cores between test workers and Redis, so an answer can take longer than the
// product's 50 ms command timeout; that would turn hits into misses, which these tests do not mean
// to test. Tests of a hung Redis set the short timeout themselves.
const redis = (url = inject('redisUrl'), commandTimeoutMs = 1_000) => {
  const store = new RedisStore({ url, commandTimeoutMs, connectTimeoutMs: 1_000, log })
  stores.push(store)
  return store
}
/** A gateway replica on the shared Redis, once connected (without an offline queue, earlier commands fail: misses). */
const replica = async (overrides: Partial<ConfigInput> = {}, store = redis()) => {
  await ready(store)
  return buildTestApp({ ...config, ...overrides }, { store })
}
const ask = (url: string, params: Record<string, unknown> = {}) => ({
  model: MODEL,
  temperature: 0,
  messages: [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url } },
        { type: 'text', text: 'What is this?' },
      ],
    },
  ],
  ...params,
})
const dataUrl = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64')}`
const usage = { prompt_tokens: 590, completion_tokens: 4, total_tokens: 594 }

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  imageHost = await ImageServer.start()
  imageHost.image('/picture.png', PICTURE).image('/same-picture-elsewhere.png', PICTURE)
})
beforeEach(() => {
  // A key prefix per test keeps tests from hitting each other's entries in the shared Redis.
  config = { ...testConfig(upstream.baseUrl), images: imageConfig(imageHost), cache: { keyPrefix: `test:${crypto.randomUUID()}:` } }
  upstream.calls.length = 0
  upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'A red square.', usage })))
})
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()))
})
afterAll(async () => {
  await imageHost.close()
  await upstream.close()
})

describe('shared by replicas', () => {
  it('a miss on one instance is a hit on another', async () => {
    const a = await replica()
    const b = await replica()
    const first = await a.app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/picture.png'))))
    expect(first.headers.get('x-cache')).toBe('MISS')
    const second = await b.app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/picture.png'))))
    expect(second.headers.get('x-cache')).toBe('HIT')
    expect(second.headers.get('age')).toMatch(/^\d+$/)
    expect(await second.json()).toMatchObject({ choices: [{ message: { content: 'A red square.' } }], usage })
    expect(upstream.calls).toHaveLength(1)
    expect(await counterSum(b.deps.metrics.cacheLookups, { result: 'hit' })).toBe(1)
  })
})

describe('keyed on image content', () => {
  it('hits for the same bytes at another URL and as a data URL', async () => {
    const { app } = await replica()
    await app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/picture.png'))))
    const elsewhere = await app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/same-picture-elsewhere.png'))))
    const inline = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect([elsewhere.headers.get('x-cache'), inline.headers.get('x-cache')]).toEqual(['HIT', 'HIT'])
    expect(upstream.calls).toHaveLength(1)
  })

  it('misses when the bytes behind the same URL change', async () => {
    let served = PICTURE
    imageHost.route('/changing.png', (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(served))
    const { app } = await replica()
    await app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/changing.png'))))
    served = OTHER_PICTURE
    const again = await app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/changing.png'))))
    expect(again.headers.get('x-cache')).toBe('MISS')
    expect(upstream.calls).toHaveLength(2)
  })

  it('misses for another team (the default scope), hits for the same team', async () => {
    const { app } = await replica({
      keys: [
        { alias: 'a1', team: 'team-a', secret: TEST_KEY },
        { alias: 'a2', team: 'team-a', secret: 'sk-second-key-of-team-a' },
        { alias: 'b1', team: 'team-b', secret: OTHER_KEY },
      ],
    })
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    const sameTeam = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE)), 'sk-second-key-of-team-a'))
    const otherTeam = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE)), OTHER_KEY))
    expect(sameTeam.headers.get('x-cache')).toBe('HIT')
    expect(otherTeam.headers.get('x-cache')).toBe('MISS')
  })

  it.each([
    ['temperature', { temperature: 0.5, seed: 1 }],
    ['max_tokens', { max_tokens: 10 }],
    ['seed', { seed: 42 }],
    ['stop', { stop: ['\n'] }],
  ])('misses when %s differs', async (_name, params) => {
    const { app } = await replica()
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    const res = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE), params)))
    expect(res.headers.get('x-cache')).toBe('MISS')
  })

  it('hits whatever order the client wrote its keys in, and whether it streams or not', async () => {
    const { app } = await replica()
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE), { max_tokens: 20, top_p: 1 })))
    const body = ask(dataUrl(PICTURE), { top_p: 1, max_tokens: 20 })
    const reordered = Object.fromEntries(Object.entries(body).reverse())
    const res = await app.request('/v1/chat/completions', chatRequest({ ...reordered, user: 'someone-else' }))
    expect(res.headers.get('x-cache')).toBe('HIT')
  })
})

describe('admission and Cache-Control', () => {
  it('bypasses non-deterministic requests by default, and stores them when config admits all', async () => {
    const { app } = await replica()
    const sampled = ask(dataUrl(PICTURE), { temperature: 0.7 })
    expect((await app.request('/v1/chat/completions', chatRequest(sampled))).headers.get('x-cache')).toBe('BYPASS')
    expect((await app.request('/v1/chat/completions', chatRequest(sampled))).headers.get('x-cache')).toBe('BYPASS')
    const all = await replica({ cache: { keyPrefix: `test:${crypto.randomUUID()}:`, admit: 'all' } })
    await all.app.request('/v1/chat/completions', chatRequest(sampled))
    expect((await all.app.request('/v1/chat/completions', chatRequest(sampled))).headers.get('x-cache')).toBe('HIT')
  })

  it('no-cache refreshes the entry, no-store neither reads nor writes', async () => {
    const { app } = await replica()
    const request = (cacheControl?: string) => {
      const init = chatRequest(ask(dataUrl(PICTURE)))
      return {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...(cacheControl ? { 'cache-control': cacheControl } : {}) },
      }
    }
    expect((await app.request('/v1/chat/completions', request('no-store'))).headers.get('x-cache')).toBe('BYPASS')
    expect((await app.request('/v1/chat/completions', request())).headers.get('x-cache')).toBe('MISS') // no-store wrote nothing
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'Fresh answer.', usage })))
    const refreshed = await app.request('/v1/chat/completions', request('no-cache'))
    expect(refreshed.headers.get('x-cache')).toBe('REFRESH')
    const hit = await app.request('/v1/chat/completions', request())
    expect(hit.headers.get('x-cache')).toBe('HIT')
    expect(JSON.stringify(await hit.json())).toContain('Fresh answer.')
    expect(upstream.calls).toHaveLength(3)
  })
})

describe('streams', () => {
  it('stores a streamed miss and answers a non-streamed request from it, and the reverse', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['A red ', 'square.'], usage)))
    const { app } = await replica()
    const streamed = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE), { stream: true })))
    expect(streamed.headers.get('x-cache')).toBe('MISS')
    await streamed.text()
    const plain = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect(plain.headers.get('x-cache')).toBe('HIT')
    expect(await plain.json()).toMatchObject({
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: 'A red square.' }, finish_reason: 'stop' }],
      usage,
    })

    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'A green square.', usage })))
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(OTHER_PICTURE))))
    const replay = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(OTHER_PICTURE), { stream: true })))
    expect(replay.headers.get('x-cache')).toBe('HIT')
    expect(replay.headers.get('content-type')).toContain('text/event-stream')
    expect(await replay.text()).toContain('A green square.')
    expect(upstream.calls).toHaveLength(2)
  })

  it('replays a hit as a stream the openai SDK reads, with usage when asked', async () => {
    const { app } = await replica()
    const gateway = await listen(app)
    try {
      const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const body = ask(dataUrl(PICTURE)) as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming
      await client.chat.completions.create(body)
      const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })
      const chunks = []
      for await (const chunk of stream) chunks.push(chunk)
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('A red square.')
      expect(chunks.filter((c) => c.usage)).toEqual([expect.objectContaining({ choices: [], usage })])
      expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true)
      const quiet = await client.chat.completions.create({ ...body, stream: true })
      const quietChunks = []
      for await (const chunk of quiet) quietChunks.push(chunk)
      expect(quietChunks.some((c) => c.usage)).toBe(false)
      expect(upstream.calls).toHaveLength(1)
    } finally {
      await gateway.close()
    }
  })

  it('never stores a stream that broke off, or an error answer', async () => {
    const { app } = await replica()
    upstream.handle((_call, res) => replySse(res, completionChunks(['cut']).slice(0, 2), { done: false }))
    await (await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE), { stream: true })))).text()
    upstream.handle((_call, res) => replyJson(res, 500, { error: { message: 'boom', type: 'server_error' } }))
    expect((await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))).status).toBe(500)
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'Whole answer.', usage })))
    const third = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect(third.headers.get('x-cache')).toBe('MISS')
    expect(upstream.calls).toHaveLength(3)
  })
})

describe('single flight', () => {
  it('sends 50 concurrent identical requests to the backend once', async () => {
    const { release } = upstream.holdAnswers((res) => replyJson(res, 200, chatCompletion({ content: 'Once.', usage })))
    const { app } = await replica()
    const all = Array.from({ length: 50 }, async () => app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE)))))
    await upstream.untilCalls(1)
    release()
    const responses = await Promise.all(all)
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(upstream.calls).toHaveLength(1)
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ choices: Array<{ message: { content: string } }> }>))
    expect(new Set(bodies.map((b) => b.choices[0]?.message.content))).toEqual(new Set(['Once.']))
    expect(responses.filter((r) => r.headers.get('x-cache') === 'MISS')).toHaveLength(1)
  })

  it('lets waiters go to the backend themselves when the first request fails', async () => {
    let calls = 0
    upstream.handle((_call, res) => {
      calls++
      if (calls === 1) replyJson(res, 503, { error: { message: 'busy', type: 'server_error' } })
      else replyJson(res, 200, chatCompletion({ content: 'Second try.', usage }))
    })
    const { app } = await replica()
    const [first, second] = await Promise.all([
      Promise.resolve(app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))),
      Promise.resolve(app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))),
    ])
    expect([first.status, second.status].sort()).toEqual([200, 503])
  })
})

describe('single flight across replicas', () => {
  /** The backend holds its answers until `release()`; `arrived` resolves on its first request. */
  function holdBackend(answers: Array<(res: import('node:http').ServerResponse) => void>) {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let calls = 0
    upstream.handle(async (_call, res) => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!
      await held
      answer(res)
    })
    return { release }
  }
  const waitForCalls = (n: number) => upstream.untilCalls(n)
  const ok = (content: string) => (res: import('node:http').ServerResponse) => replyJson(res, 200, chatCompletion({ content, usage }))

  it('lets a miss on another replica wait for the first replica’s backend call', async () => {
    const { release } = holdBackend([ok('From replica A.')])
    const a = await replica()
    const b = await replica()
    const fromA = Array.from({ length: 5 }, () => a.app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE)))))
    await waitForCalls(1) // A's leader holds the lock now
    const fromB = Array.from({ length: 5 }, () => b.app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE)))))
    release()
    const responses = await Promise.all([...fromA, ...fromB])
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(upstream.calls).toHaveLength(1)
    const bodies = await Promise.all(responses.map((r) => r.text()))
    expect(bodies.every((b) => b.includes('From replica A.'))).toBe(true)
    expect(responses.slice(5).map((r) => r.headers.get('x-cache'))).toEqual(Array(5).fill('HIT'))
  })

  it('takes over when the leading replica ends without an answer', async () => {
    const { release } = holdBackend([(res) => replyJson(res, 503, { error: { message: 'busy', type: 'server_error' } }), ok('Second try.')])
    const a = await replica()
    const b = await replica()
    const first = a.app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    await waitForCalls(1)
    const waiting = b.app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    release()
    expect((await first).status).toBe(503)
    const taken = await waiting
    expect(taken.status).toBe(200)
    expect(await taken.text()).toContain('Second try.')
    expect(upstream.calls).toHaveLength(2)
  })

  it('does not coordinate replicas when config turns it off', async () => {
    const { release } = holdBackend([ok('Each on its own.')])
    const off = { cache: { keyPrefix: `test:${crypto.randomUUID()}:`, coalesceAcrossReplicas: false } }
    const a = await replica(off)
    const b = await replica(off)
    const first = a.app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    await waitForCalls(1)
    const second = b.app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    await waitForCalls(2)
    release()
    expect((await Promise.all([first, second])).map((r) => r.status)).toEqual([200, 200])
  })
})

describe('when Redis is in trouble', () => {
  it('serves every request as a miss when Redis hangs, within the command timeout plus the backend time', async () => {
    const blackhole = await startBlackhole()
    try {
      const { app, deps } = buildTestApp(config, { store: redis(blackhole.url, 50) })
      const started = Date.now()
      for (let i = 0; i < 5; i++) {
        const res = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
        expect(res.status).toBe(200)
        expect(res.headers.get('x-cache')).toBe('MISS')
      }
      expect(Date.now() - started).toBeLessThan(5 * 1_000)
      expect(await counterSum(deps.metrics.cacheLookups, { result: 'error' })).toBeGreaterThan(0)
    } finally {
      await blackhole.close()
    }
  })

  it('keeps serving when Redis goes away mid-run, and uses it again once it is back', async () => {
    const store = redis()
    await ready(store)
    const { app } = await replica({}, store)
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect((await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))).headers.get('x-cache')).toBe('HIT')
    const closed = new Promise<void>((resolve) => store.client.once('close', () => resolve()))
    store.client.disconnect(true) // drop the connection: commands fail until it reconnects
    await closed // so `ready` below waits for the reconnection, not the old connection's state
    const during = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect(during.status).toBe(200)
    await ready(store)
    const after = await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect(after.headers.get('x-cache')).toBe('HIT')
  })
})

describe('usage on hits', () => {
  it('meters hits with the cache label and does not charge them by default', async () => {
    const { app, deps } = await replica()
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect(await counterSum(deps.metrics.promptTokens, { cache: 'hit' })).toBe(usage.prompt_tokens)
    expect(await counterSum(deps.metrics.promptTokens, { cache: 'miss' })).toBe(usage.prompt_tokens)
    expect(await counterSum(deps.metrics.chargedTokens)).toBe(usage.total_tokens)
  })

  it('charges hits when config says they count', async () => {
    const { app, deps } = await replica({ cache: { keyPrefix: `test:${crypto.randomUUID()}:`, hitsCountTowardUsage: true } })
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    await app.request('/v1/chat/completions', chatRequest(ask(dataUrl(PICTURE))))
    expect(await counterSum(deps.metrics.chargedTokens)).toBe(2 * usage.total_tokens)
  })
})
