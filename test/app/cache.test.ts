import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { png } from '../fixtures/images.js'
import { chatCompletion, completionChunks } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { counterSum } from '../helpers/metric-values.js'
import { errorStatus, held, json, ScriptedUpstream, sse } from '../helpers/scripted-upstream.js'
import { dataFrames } from '../helpers/sse.js'
import { buildTestApp, chatRequest, MODEL, OTHER_KEY, TEST_KEY, testConfig } from '../helpers/test-app.js'
import { WatchedStore } from '../helpers/watched-store.js'

// The response cache on the default in-memory store, through the whole pipeline: keyed on image
// content, admission and Cache-Control, streams stored and replayed, identical misses coalesced,
// usage on hits. The backend is scripted; images come from a loopback image host. What needs
// Redis itself (replicas, Redis hanging or going away) is in test/integration/cache.test.ts.

const PICTURE = png(64, 48, [200, 30, 30])
const OTHER_PICTURE = png(64, 48, [30, 200, 30])
const usage = { prompt_tokens: 590, completion_tokens: 4, total_tokens: 594 }

let imageHost: ImageServer
let upstream: ScriptedUpstream
let now: number

beforeAll(async () => {
  imageHost = await ImageServer.start()
  imageHost.image('/picture.png', PICTURE).image('/same-picture-elsewhere.png', PICTURE)
})
afterAll(() => imageHost.close())
beforeEach(() => {
  now = Date.parse('2026-11-26T12:00:00Z')
  upstream = new ScriptedUpstream().answer('main', json(200, chatCompletion({ content: 'A red square.', usage })))
})

/** A gateway on its own in-memory store, with the scripted backend and a clock the test moves. */
function gateway(overrides: Partial<ConfigInput> = {}) {
  const clock = { now: () => now }
  const store = new WatchedStore(clock)
  const built = buildTestApp(
    { ...testConfig('http://127.0.0.1:9/v1'), images: imageConfig(imageHost), ...overrides },
    { upstreamClient: upstream, store, clock },
  )
  const send = async (body: Record<string, unknown>, key: string | null = TEST_KEY, headers: Record<string, string> = {}) => {
    const init = chatRequest(body, key)
    return built.app.request('/v1/chat/completions', { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } })
  }
  return { ...built, store, send }
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
const xCache = (res: Response) => res.headers.get('x-cache')
type Body = { choices: Array<{ message: { content: string } }> }
const contentOf = async (res: Response) => ((await res.json()) as Body).choices[0]?.message.content

describe('a miss, then a hit', () => {
  it('answers the second identical request from the cache, with x-cache and its age', async () => {
    const { send, deps } = gateway()
    const first = await send(ask(imageHost.url('/picture.png')))
    expect(xCache(first)).toBe('MISS')
    expect(first.headers.get('age')).toBeNull()
    expect(await first.json()).toMatchObject({ choices: [{ message: { content: 'A red square.' } }], usage })
    now += 42_000
    const second = await send(ask(imageHost.url('/picture.png')))
    expect(xCache(second)).toBe('HIT')
    expect(second.headers.get('age')).toBe('42')
    expect(second.headers.get('x-gateway-usage-source')).toBe(first.headers.get('x-gateway-usage-source')) // the answer's own source
    expect(second.headers.get('x-gateway-usage-source')).toBe('upstream')
    expect(await second.json()).toMatchObject({ choices: [{ message: { content: 'A red square.' } }], usage })
    expect(upstream.calls).toHaveLength(1)
    expect(await counterSum(deps.metrics.cacheLookups, { result: 'hit' })).toBe(1)
    expect(await counterSum(deps.metrics.cacheLookups, { result: 'miss' })).toBe(1)
  })
})

describe('keyed on image content', () => {
  it('hits for the same bytes at another URL and as a data URL', async () => {
    const { send } = gateway()
    await send(ask(imageHost.url('/picture.png')))
    const elsewhere = await send(ask(imageHost.url('/same-picture-elsewhere.png')))
    const inline = await send(ask(dataUrl(PICTURE)))
    expect([xCache(elsewhere), xCache(inline)]).toEqual(['HIT', 'HIT'])
    expect(upstream.calls).toHaveLength(1)
  })

  it('misses when the bytes behind the same URL change', async () => {
    let served = PICTURE
    imageHost.route('/changing.png', (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(served))
    const { send } = gateway()
    await send(ask(imageHost.url('/changing.png')))
    served = OTHER_PICTURE
    const again = await send(ask(imageHost.url('/changing.png')))
    expect(xCache(again)).toBe('MISS')
    expect(upstream.calls).toHaveLength(2)
  })

  it('misses for another team (the default scope), hits for the same team', async () => {
    const { send } = gateway({
      keys: [
        { alias: 'a1', team: 'team-a', secret: TEST_KEY },
        { alias: 'a2', team: 'team-a', secret: 'sk-second-key-of-team-a' },
        { alias: 'b1', team: 'team-b', secret: OTHER_KEY },
      ],
    })
    await send(ask(dataUrl(PICTURE)))
    const sameTeam = await send(ask(dataUrl(PICTURE)), 'sk-second-key-of-team-a')
    const otherTeam = await send(ask(dataUrl(PICTURE)), OTHER_KEY)
    expect(xCache(sameTeam)).toBe('HIT')
    expect(xCache(otherTeam)).toBe('MISS')
    expect(upstream.calls).toHaveLength(2)
  })

  it.each([
    ['temperature', { temperature: 0.5, seed: 1 }],
    ['max_tokens', { max_tokens: 10 }],
    ['seed', { seed: 42 }],
    ['stop', { stop: ['\n'] }],
  ])('misses when %s differs', async (_name, params) => {
    const { send } = gateway()
    await send(ask(dataUrl(PICTURE)))
    const res = await send(ask(dataUrl(PICTURE), params))
    expect(xCache(res)).toBe('MISS')
    expect(upstream.calls).toHaveLength(2)
  })

  it('hits whatever order the client wrote its keys in, and whoever it says the user is', async () => {
    const { send } = gateway()
    await send(ask(dataUrl(PICTURE), { max_tokens: 20, top_p: 1 }))
    const body = ask(dataUrl(PICTURE), { top_p: 1, max_tokens: 20 })
    const reordered = Object.fromEntries(Object.entries(body).reverse())
    const res = await send({ ...reordered, user: 'someone-else' })
    expect(xCache(res)).toBe('HIT')
    expect(upstream.calls).toHaveLength(1)
  })
})

describe('admission and Cache-Control', () => {
  it('bypasses non-deterministic requests by default, and stores them when config admits all', async () => {
    const { send } = gateway()
    const sampled = ask(dataUrl(PICTURE), { temperature: 0.7 })
    expect(xCache(await send(sampled))).toBe('BYPASS')
    expect(xCache(await send(sampled))).toBe('BYPASS')
    expect(upstream.calls).toHaveLength(2)
    const all = gateway({ cache: { admit: 'all' } })
    expect(xCache(await all.send(sampled))).toBe('MISS')
    expect(xCache(await all.send(sampled))).toBe('HIT')
    expect(upstream.calls).toHaveLength(3)
  })

  it('no-cache refreshes the entry, no-store neither reads nor writes', async () => {
    const { send, store } = gateway()
    const request = (cacheControl?: string) => send(ask(dataUrl(PICTURE)), TEST_KEY, cacheControl ? { 'cache-control': cacheControl } : {})
    expect(xCache(await request('no-store'))).toBe('BYPASS')
    expect(xCache(await request())).toBe('MISS') // no-store wrote nothing
    await store.untilWrites(1)
    // A hit now: its entry parsed and its body made, both kept for the hits to come.
    expect(await contentOf(await request())).toBe('A red square.')
    expect(xCache(await request('no-store'))).toBe('BYPASS')
    expect(store.writes).toHaveLength(1) // nor does it write over what is there
    upstream.answer('main', json(200, chatCompletion({ content: 'Fresh answer.', usage })))
    const refreshed = await request('no-cache')
    expect(xCache(refreshed)).toBe('REFRESH')
    expect(await contentOf(refreshed)).toBe('Fresh answer.')
    await store.untilWrites(2) // a refresh leads no flight to join: wait for its write
    // The entry was rewritten: a hit parses it afresh, and never answers with the body made before.
    const hit = await request()
    expect(xCache(hit)).toBe('HIT')
    expect(await contentOf(hit)).toBe('Fresh answer.')
    expect(upstream.calls).toHaveLength(4)
  })
})

describe('streams', () => {
  it('stores a streamed miss and answers a non-streamed request from it, and the reverse', async () => {
    upstream.answer('main', sse(completionChunks(['A red ', 'square.'], usage)))
    const { send } = gateway()
    const streamed = await send(ask(dataUrl(PICTURE), { stream: true }))
    expect(xCache(streamed)).toBe('MISS')
    await streamed.text()
    const plain = await send(ask(dataUrl(PICTURE)))
    expect(xCache(plain)).toBe('HIT')
    expect(await plain.json()).toMatchObject({
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: 'A red square.' }, finish_reason: 'stop' }],
      usage,
    })

    upstream.answer('main', json(200, chatCompletion({ content: 'A green square.', usage })))
    await send(ask(dataUrl(OTHER_PICTURE)))
    const replay = await send(ask(dataUrl(OTHER_PICTURE), { stream: true }))
    expect(xCache(replay)).toBe('HIT')
    expect(replay.headers.get('content-type')).toContain('text/event-stream')
    const text = await replay.text()
    expect(dataFrames(text).at(-1)).toBe('[DONE]')
    expect(text).toContain('A green square.')
    expect(upstream.calls).toHaveLength(2)
  })

  it('replays a hit as a stream the openai SDK reads, with usage when asked', async () => {
    const { app } = gateway()
    const client = new OpenAI({
      apiKey: TEST_KEY,
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: async (url, init) => app.request(url instanceof Request ? url : String(url), init), // no socket: straight into the app
    })
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
  })

  it('never stores a stream that broke off, or an error answer', async () => {
    const { send, store } = gateway()
    upstream.answer('main', sse(completionChunks(['cut']).slice(0, 2), { done: false }))
    const broken = await (await send(ask(dataUrl(PICTURE), { stream: true }))).text()
    expect(dataFrames(broken).at(-1)).toContain('"error"')
    upstream.answer('main', errorStatus(500, 'boom'))
    expect((await send(ask(dataUrl(PICTURE)))).status).toBe(500)
    upstream.answer('main', json(200, chatCompletion({ content: 'Whole answer.', usage })))
    const third = await send(ask(dataUrl(PICTURE)))
    expect(xCache(third)).toBe('MISS')
    expect(await contentOf(third)).toBe('Whole answer.')
    expect(upstream.calls).toHaveLength(3)
    await store.untilWrites(1) // only the whole answer was stored
    expect(store.writes).toHaveLength(1)
  })
})

describe('single flight', () => {
  it('sends 50 concurrent identical requests to the backend once', async () => {
    const once = held(json(200, chatCompletion({ content: 'Once.', usage })))
    upstream.answer('main', once.answer)
    const { send } = gateway()
    const all = Array.from({ length: 50 }, () => send(ask(dataUrl(PICTURE))))
    await once.arrived
    once.release()
    const responses = await Promise.all(all)
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(upstream.calls).toHaveLength(1)
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<Body>))
    expect(new Set(bodies.map((b) => b.choices[0]?.message.content))).toEqual(new Set(['Once.']))
    expect(responses.filter((r) => xCache(r) === 'MISS')).toHaveLength(1)
    expect(responses.filter((r) => xCache(r) === 'HIT')).toHaveLength(49)
  })

  it('sends 50 concurrent identical text-only requests (keyed and looked up at once) to the backend once', async () => {
    const once = held(json(200, chatCompletion({ content: 'Once.', usage })))
    upstream.answer('main', once.answer)
    const { send } = gateway()
    const text = { model: MODEL, temperature: 0, messages: [{ role: 'user', content: 'Say hello.' }] }
    const all = Array.from({ length: 50 }, () => send(text))
    await once.arrived
    once.release()
    const responses = await Promise.all(all)
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(upstream.calls).toHaveLength(1)
    expect(responses.filter((r) => xCache(r) === 'MISS')).toHaveLength(1)
    expect(responses.filter((r) => xCache(r) === 'HIT')).toHaveLength(49)
    expect(xCache(await send(text))).toBe('HIT') // and once it is stored, from the store
  })

  it('lets waiters go to the backend themselves when the first request fails', async () => {
    const busy = held(errorStatus(503, 'busy'))
    upstream.answer('main', busy.answer, json(200, chatCompletion({ content: 'Second try.', usage })))
    const { send } = gateway()
    const first = send(ask(dataUrl(PICTURE)))
    await busy.arrived
    const second = send(ask(dataUrl(PICTURE)))
    // Every step before the cache is CPU work for a data URL: a turn of the event loop brings the
    // second request to the cache step, where it waits on the first one's flight, calling no one.
    await new Promise((resolve) => setImmediate(resolve))
    expect(upstream.calls).toHaveLength(1)
    busy.release()
    expect((await first).status).toBe(503)
    const alone = await second
    expect(alone.status).toBe(200)
    expect(xCache(alone)).toBe('MISS')
    expect(await contentOf(alone)).toBe('Second try.')
    expect(upstream.calls).toHaveLength(2)
  })
})

describe('usage on hits', () => {
  it('meters hits with the cache label and does not charge them by default', async () => {
    const { send, deps } = gateway()
    await send(ask(dataUrl(PICTURE)))
    expect(xCache(await send(ask(dataUrl(PICTURE))))).toBe('HIT')
    expect(await counterSum(deps.metrics.promptTokens, { cache: 'hit' })).toBe(usage.prompt_tokens)
    expect(await counterSum(deps.metrics.promptTokens, { cache: 'miss' })).toBe(usage.prompt_tokens)
    expect(await counterSum(deps.metrics.completionTokens, { cache: 'hit' })).toBe(usage.completion_tokens)
    expect(await counterSum(deps.metrics.chargedTokens)).toBe(usage.total_tokens)
  })

  it('charges hits when config says they count', async () => {
    const { send, deps } = gateway({ cache: { hitsCountTowardUsage: true } })
    await send(ask(dataUrl(PICTURE)))
    expect(xCache(await send(ask(dataUrl(PICTURE))))).toBe('HIT')
    expect(await counterSum(deps.metrics.chargedTokens)).toBe(2 * usage.total_tokens)
  })
})
