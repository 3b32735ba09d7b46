import { Readable } from 'node:stream'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { errorOf } from '../../test/helpers/errors.js'
import { chatCompletion, completionChunks } from '../../test/helpers/fake-upstream.js'
import { counterSum } from '../../test/helpers/metric-values.js'
import { networkFailure, ScriptedUpstream } from '../../test/helpers/scripted-replies.js'
import { dataFrames, encode, jsonChunks, readText } from '../../test/helpers/sse.js'
import { parsedRequest, settle, stepApp, stepConfig } from '../../test/helpers/step-app.js'
import type { CachedCompletion } from '../cache/entry.js'
import type { CacheLookup } from '../cache/index.js'
import type { Completion } from '../completion/completion.js'
import { FinishLine } from '../completion/finish-line.js'
import { toChatCompletionBody } from '../completion/whole-completion.js'
import type { ModelConfig } from '../config/schema.js'
import { countCompletionTokens } from '../meter/completion-tokens.js'
import { createLabeler } from '../metrics/labels.js'
import { createMetrics } from '../metrics/metrics.js'
import { replayFrames } from '../sse/replay.js'
import { upstream, USAGE_SOURCE_HEADER, type UpstreamReads } from './index.js'
import { createBackendPools } from '../backends/pools.js'
import { TokenCounter } from '../meter/token-counter.js'
import type { RequestImage } from '../images/index.js'
import { allocWithSpareRoom } from '../lib/spare-room.js'
import type { ClientBody } from '../validate/index.js'

const tokens = new TokenCounter()
afterAll(() => tokens.close())

const config = stepConfig({
  backends: {
    main: { baseUrl: 'http://127.0.0.1:9/v1' },
    backup: { baseUrl: 'http://127.0.0.1:10/v1', kind: 'ollama' },
    tgi: { baseUrl: 'http://127.0.0.1:11/v1', kind: 'tgi' },
  },
  models: [
    { id: 'llava-1.5-7b', backend: 'main', upstreamModel: 'llava-hf/llava-1.5-7b-hf', metricsLabel: 'llava-7b' },
    { id: 'with-fallback', backend: 'main', fallbacks: ['backup'], backendModels: { backup: 'llava:7b' } },
    { id: 'on-tgi', backend: 'tgi' },
  ],
})
const modelNamed = (id: string) => config.models.find((m) => m.id === id) as ModelConfig

const PROMPT = { textTokens: 17, imageTokens: 576, images: 1, total: 593 }
const USAGE = { prompt_tokens: 593, completion_tokens: 7, total_tokens: 600 }
const REQUEST_ID = 'req-42'
const T0 = 1_700_000_000_000
const UPSTREAM_MS = 250

const ask = (extra: Record<string, unknown> = {}) => ({
  model: 'llava-1.5-7b',
  messages: [{ role: 'user', content: 'What is in this image?' }],
  ...extra,
})
const STREAM = { stream: true }
const STREAM_WITH_USAGE = { stream: true, stream_options: { include_usage: true } }

const ENTRY: CachedCompletion = {
  id: 'chatcmpl-cached',
  created: 1_699_999_000,
  model: 'llava-hf/llava-1.5-7b-hf',
  choices: [{ index: 0, message: { role: 'assistant', content: 'A cat on a mat.' }, logprobs: null, finish_reason: 'stop' }],
  usage: USAGE,
  usageSource: 'upstream',
  storedAt: T0 - 42_500,
}

const sse = (events: readonly unknown[], done = true) =>
  events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : '')

/**
 * The upstream step on a throwaway app, with everything the steps before it leave preset, a
 * scripted client, and a clock that each backend answer moves on by UPSTREAM_MS. Every call to
 * the finish line's `complete` is in `completions`.
 */
function upstreamApp(
  options: {
    body?: Record<string, unknown>
    lookup?: CacheLookup
    model?: string
    images?: readonly RequestImage[]
    clientBody?: ClientBody
  } = {},
) {
  const client = new ScriptedUpstream()
  const metrics = createMetrics({ defaultMetrics: false })
  const clock = { time: T0, now: () => clock.time }
  const finish = new FinishLine(T0)
  const completions: Completion[] = []
  const complete = finish.complete.bind(finish)
  vi.spyOn(finish, 'complete').mockImplementation((completion) => {
    completions.push(completion)
    complete(completion)
  })
  const body = ask(options.body)
  const { app } = stepApp<UpstreamReads>(
    upstream({
      config,
      upstreamClient: client,
      metrics,
      clock,
      labels: createLabeler(config),
      tokens,
      pools: createBackendPools(config, { clock }),
    }),
    () => ({
      requestId: REQUEST_ID,
      finish,
      principal: { keyAlias: 'a-key', team: 'team-a', role: 'user' as const, models: undefined, budgets: [] },
      chatRequest: parsedRequest({ ...body, model: options.model ?? body.model }),
      model: modelNamed(options.model ?? 'llava-1.5-7b'),
      reorderedMessages: [],
      requestImages: options.images ?? [],
      clientBody: options.clientBody,
      prompt: PROMPT,
      cacheLookup: options.lookup ?? { result: 'miss' },
    }),
  )
  const reply = client.reply.bind(client)
  // Every scripted answer takes UPSTREAM_MS of backend time.
  vi.spyOn(client, 'reply').mockImplementation((next) =>
    reply((sent) => {
      clock.time += UPSTREAM_MS
      return next(sent)
    }),
  )
  const send = async (init: RequestInit = {}) => app.request('/', { method: 'POST', ...init })
  return { send, client, finish, completions, metrics, clock }
}

/** The one completion of a request, once the finish line has it; fails if complete was called more than once. */
async function theCompletion(app: { finish: FinishLine; completions: Completion[] }): Promise<Completion> {
  const completion = await app.finish.done
  await settle()
  expect(app.completions).toHaveLength(1)
  return completion
}

describe('upstream: a cache hit', () => {
  it('answers a JSON request from the entry, with its age, without calling the backend', async () => {
    const app = upstreamApp({ lookup: { result: 'hit', entry: ENTRY } })
    const res = await app.send()
    expect(res.status).toBe(200)
    expect(res.headers.get('age')).toBe('42')
    expect(await res.json()).toEqual(toChatCompletionBody(ENTRY))
    expect(app.client.sent).toEqual([])
    expect(await theCompletion(app)).toEqual({
      outcome: 'completed',
      status: 200,
      cache: 'hit',
      usage: { usage: USAGE, source: 'upstream', imageTokens: 576 },
      answer: ENTRY,
    })
  })

  it('replays the entry to a streaming request, completing once the client has read it all', async () => {
    const app = upstreamApp({ lookup: { result: 'hit', entry: ENTRY }, body: STREAM_WITH_USAGE })
    const res = await app.send()
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('age')).toBe('42')
    await settle()
    expect(app.finish.isFinished).toBe(false)
    expect(await readText(res)).toBe(new TextDecoder().decode(replayFrames(ENTRY, true)))
    expect(app.client.sent).toEqual([])
    expect(await theCompletion(app)).toMatchObject({ outcome: 'completed', status: 200, cache: 'hit', answer: ENTRY })
  })

  it('replays without the usage chunk when the client did not ask for it', async () => {
    const app = upstreamApp({ lookup: { result: 'hit', entry: ENTRY }, body: STREAM })
    const chunks = jsonChunks(await readText(await app.send()))
    expect(chunks.some((c) => 'usage' in c)).toBe(false)
  })

  it('completes a replay the client cancels as client_aborted, with the usage but no answer', async () => {
    const app = upstreamApp({ lookup: { result: 'hit', entry: ENTRY }, body: STREAM })
    const res = await app.send()
    await res.body?.cancel()
    const completion = await theCompletion(app)
    expect(completion).toMatchObject({ outcome: 'client_aborted', status: 200, cache: 'hit', usage: { usage: USAGE } })
    expect(completion).not.toHaveProperty('answer')
  })

  it('never gives a negative age (an entry stored by a replica whose clock runs ahead)', async () => {
    const app = upstreamApp({ lookup: { result: 'hit', entry: { ...ENTRY, storedAt: T0 + 5_000 } } })
    expect((await app.send()).headers.get('age')).toBe('0')
  })
})

describe('upstream: a JSON answer from the backend', () => {
  it("sends the request to the model's backend under the backend's model name, with the request id", async () => {
    const app = upstreamApp({ body: { temperature: 0, some_new_parameter: { kept: true } } })
    app.client.json(200, chatCompletion({ usage: USAGE }))
    await app.send()
    expect(app.client.sent).toHaveLength(1)
    const [sent] = app.client.sent
    expect(sent).toMatchObject({
      backend: 'main',
      path: '/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-request-id': REQUEST_ID },
    })
    expect(sent?.signal).toBeInstanceOf(AbortSignal)
    expect(sent?.json).toEqual({ ...ask({ temperature: 0, some_new_parameter: { kept: true } }), model: 'llava-hf/llava-1.5-7b-hf' })
  })

  it('answers with the backend body and completes once: completed, backend, cache result, usage, answer, upstream time', async () => {
    const app = upstreamApp()
    const backendBody = chatCompletion({ usage: USAGE, content: 'A cat.' })
    app.client.json(200, backendBody)
    const res = await app.send()
    expect(res.status).toBe(200)
    // The backend's body, under the model id the client asked for (the backend knows it by another name).
    expect(backendBody.model).toBe('llava-hf/llava-1.5-7b-hf')
    expect(await res.json()).toEqual({ ...backendBody, model: 'llava-1.5-7b' })
    expect(res.headers.get(USAGE_SOURCE_HEADER)).toBe('upstream')
    const completion = await theCompletion(app)
    expect(completion).toMatchObject({
      outcome: 'completed',
      status: 200,
      backend: 'main',
      cache: 'miss',
      usage: { usage: USAGE, source: 'upstream', imageTokens: 576 },
      upstreamMs: UPSTREAM_MS,
    })
    expect(completion.answer).toMatchObject({
      id: 'chatcmpl-test',
      choices: [{ index: 0, message: { role: 'assistant', content: 'A cat.' }, finish_reason: 'stop' }],
      usage: USAGE,
    })
  })

  it("passes the backend's own text on, with only the model id changed, when its usage stands as reported", async () => {
    const app = upstreamApp()
    const backendBody = chatCompletion({ usage: USAGE, content: 'A "cat".' })
    // As a backend might space it: the gateway edits the model id in this text and sends the rest as it came.
    const text = JSON.stringify(backendBody, null, 1)
      .replace(/\n\s*/g, ' ')
      .replace('"model": "llava-hf/llava-1.5-7b-hf"', '"model":"llava-hf/llava-1.5-7b-hf"')
    app.client.raw(200, text, { 'content-type': 'application/json' })
    const res = await app.send()
    expect(await res.text()).toBe(text.replace('"model":"llava-hf/llava-1.5-7b-hf"', '"model":"llava-1.5-7b"'))
    expect(res.headers.get(USAGE_SOURCE_HEADER)).toBe('upstream')
  })

  it('serialises the answer again when the usage it sends is not the one the backend wrote (no total given)', async () => {
    const app = upstreamApp()
    const { total_tokens: _, ...partial } = USAGE
    const backendBody = { ...chatCompletion({ usage: USAGE, content: 'A cat.' }), usage: partial }
    app.client.raw(200, ` ${JSON.stringify(backendBody)}`, { 'content-type': 'application/json' })
    const res = await app.send()
    const text = await res.text()
    expect(text).toBe(JSON.stringify({ ...backendBody, model: 'llava-1.5-7b', usage: USAGE }))
    expect(res.headers.get(USAGE_SOURCE_HEADER)).toBe('upstream')
  })

  it("sends the gateway's usage, not a broken one the backend wrote, even when their totals agree", async () => {
    const counted = upstreamApp()
    counted.client.json(200, chatCompletion({ usage: null, content: 'A cat.' }))
    const { usage } = (await (await counted.send()).json()) as { usage: { total_tokens: number } }
    const app = upstreamApp()
    app.client.raw(200, JSON.stringify({ ...chatCompletion({ content: 'A cat.' }), usage: { total_tokens: usage.total_tokens } }), {
      'content-type': 'application/json',
    })
    const res = await app.send()
    expect(((await res.json()) as { usage: unknown }).usage).toEqual(usage)
    expect(res.headers.get(USAGE_SOURCE_HEADER)).toBe('gateway')
  })

  it('adds the model id to an answer that names none, and sends one that names it already as it came', async () => {
    const { model: _, ...nameless } = chatCompletion({ usage: USAGE })
    const unnamed = upstreamApp()
    unnamed.client.json(200, nameless)
    expect(await (await unnamed.send()).json()).toEqual({ ...nameless, model: 'llava-1.5-7b' })
    const named = upstreamApp()
    const text = ` ${JSON.stringify({ ...nameless, model: 'llava-1.5-7b' })}`
    named.client.raw(200, text, { 'content-type': 'application/json' })
    expect(await (await named.send()).text()).toBe(text)
  })

  it("fills the gateway's own usage when the backend reported none, and says so in the header", async () => {
    const app = upstreamApp()
    app.client.json(200, chatCompletion({ usage: null, content: 'A cat.' }))
    const res = await app.send()
    expect(res.headers.get(USAGE_SOURCE_HEADER)).toBe('gateway')
    const body = (await res.json()) as { usage: Record<string, unknown> }
    expect(body.usage).toMatchObject({ prompt_tokens: 593, prompt_tokens_details: { image_tokens: 576 } })
    expect(body.usage['completion_tokens']).toBeGreaterThan(0)
    const completion = await theCompletion(app)
    expect(completion.usage).toEqual({ usage: body.usage, source: 'gateway', imageTokens: 576 })
  })

  it('keeps the cache result the cache step left (bypass, refresh)', async () => {
    for (const result of ['bypass', 'refresh'] as const) {
      const app = upstreamApp({ lookup: { result } })
      app.client.json(200, chatCompletion())
      await app.send()
      expect((await theCompletion(app)).cache).toBe(result)
    }
  })

  it('gives the whole answer to the cache, but builds none for a request the cache bypasses (nothing would store it)', async () => {
    for (const result of ['miss', 'bypass'] as const) {
      const app = upstreamApp({ lookup: { result } })
      app.client.json(200, chatCompletion())
      const res = await app.send()
      expect(res.status).toBe(200)
      const completion = await theCompletion(app)
      expect(completion).toMatchObject({ outcome: 'completed', usage: { source: 'upstream' } })
      expect(completion.answer === undefined).toBe(result === 'bypass')
    }
  })

  it('passes on the backend’s retry headers and no others: not its rate limits, which describe the gateway’s upstream account', async () => {
    const app = upstreamApp()
    app.client.json(200, chatCompletion(), {
      'retry-after': '3',
      'x-ratelimit-remaining-requests': '9',
      'set-cookie': ['session=secret'],
      server: 'vllm/0.6',
    })
    const res = await app.send()
    expect(res.headers.get('retry-after')).toBe('3')
    expect(res.headers.has('x-ratelimit-remaining-requests')).toBe(false)
    expect(res.headers.has('set-cookie')).toBe(false)
    expect(res.headers.has('server')).toBe(false)
  })

  it('streams a whole JSON answer to a client that asked for a stream (a backend that ignored `stream`)', async () => {
    const app = upstreamApp({ body: STREAM_WITH_USAGE })
    app.client.json(200, chatCompletion({ usage: USAGE, content: 'Whole answer.' }))
    const res = await app.send()
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const chunks = jsonChunks(await readText(res))
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: USAGE })
    expect((await theCompletion(app)).outcome).toBe('completed')
  })
})

describe("upstream: the client's own body", () => {
  const base64 = Buffer.alloc(96 * 1024, 5).toString('base64')
  /** A body with one data URL, and the image as the earlier steps leave it: its payload a view of the body's bytes. */
  const withImage = (model: string, spare = 0) => {
    const body = ask({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${base64}` } }] }],
    })
    const json = Buffer.from(JSON.stringify({ ...body, model }))
    const bytes = allocWithSpareRoom(json.length, spare)
    json.copy(bytes)
    const at = bytes.indexOf(base64)
    const identity = {
      source: 'data',
      base64: bytes.subarray(at, at + base64.length),
      mime: 'image/png',
      width: 1,
      height: 1,
      byteLength: 1,
    }
    const image = { messageIndex: 0, partIndex: 0, url: 'data:', identity: { ...identity, sha256: async () => '' } } as RequestImage
    return { body, clientBody: { bytes, payloadViews: 1 }, images: [image] }
  }

  it('goes to the backend as it is when it is the very body the backend would get', async () => {
    const { body, clientBody, images } = withImage('llava-hf/llava-1.5-7b-hf')
    const app = upstreamApp({ body, clientBody, images })
    app.client.json(200, chatCompletion())
    expect((await app.send()).status).toBe(200)
    expect(app.client.sent[0]?.body).toBe(clientBody.bytes)
  })

  it("carries the backend's name for the model in front of the client's bytes when there is room, and in a copy when not", async () => {
    // The client named the model as the gateway knows it; the backend's name for it, 12 bytes longer, replaces that.
    for (const [spare, inPlace] of [
      [256, true],
      [0, false],
    ] as const) {
      const { body, clientBody, images } = withImage('llava-1.5-7b', spare)
      const app = upstreamApp({ body, clientBody, images })
      app.client.json(200, chatCompletion())
      expect((await app.send()).status).toBe(200)
      const sent = app.client.sent[0]?.body as Buffer
      expect(sent.buffer === clientBody.bytes.buffer).toBe(inPlace)
      expect(app.client.sent[0]?.json['model']).toBe('llava-hf/llava-1.5-7b-hf')
      expect(JSON.stringify(app.client.sent[0]?.json['messages'])).toBe(JSON.stringify(body.messages))
    }
  })
})

describe('upstream: a streamed answer from the backend', () => {
  const events = completionChunks(['A cat ', 'on a mat.'], USAGE)

  it('asks the backend for usage on every stream, keeping the stream options the client gave', async () => {
    const app = upstreamApp({ body: STREAM })
    app.client.sse([sse(events)])
    await readText(await app.send())
    expect(app.client.sent[0]?.json['stream_options']).toEqual({ include_usage: true })
    expect(app.client.sent[0]?.headers?.['accept']).toBe('text/event-stream')

    const asked = upstreamApp({ body: { stream: true, stream_options: { include_usage: false, continuous_usage_stats: true } } })
    asked.client.sse([sse(events)])
    await readText(await asked.send())
    expect(asked.client.sent[0]?.json['stream_options']).toEqual({ include_usage: true, continuous_usage_stats: true })
  })

  it('does not ask a TGI backend for stream usage (it does not accept stream_options), and counts the usage itself', async () => {
    const app = upstreamApp({ body: STREAM, model: 'on-tgi' })
    app.client.sse([sse(completionChunks(['A cat.']))])
    await readText(await app.send())
    expect(app.client.sent[0]?.json).not.toHaveProperty('stream_options')
    expect((await theCompletion(app)).usage?.source).toBe('gateway')
  })

  it("sends a TGI backend none of the client's own stream_options either, and fills the usage chunk the client asked for", async () => {
    const app = upstreamApp({ body: { ...STREAM, stream_options: { include_usage: true } }, model: 'on-tgi' })
    app.client.sse([sse(completionChunks(['A cat.']))])
    const chunks = jsonChunks(await readText(await app.send()))
    expect(app.client.sent[0]?.json).not.toHaveProperty('stream_options')
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: expect.any(Number) as unknown } })
  })

  it('relays stream chunks under the model id the client asked for, not the backend’s name for it', async () => {
    const app = upstreamApp({ body: STREAM })
    app.client.sse([sse(completionChunks(['A cat.']))]) // chunks name llava-hf/llava-1.5-7b-hf
    const chunks = jsonChunks(await readText(await app.send()))
    expect(chunks.map((chunk) => chunk['model'])).toEqual(chunks.map(() => 'llava-1.5-7b'))
    expect((await theCompletion(app)).answer?.model).toBe('llava-1.5-7b')
  })

  it('relays the stream without the usage chunk the client did not ask for, and completes when it has been read to the end', async () => {
    const app = upstreamApp({ body: STREAM })
    app.client.sse([sse(events.slice(0, 2), false), sse(events.slice(2))])
    const res = await app.send()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    await settle()
    expect(app.finish.isFinished).toBe(false)
    const chunks = jsonChunks(await readText(res))
    expect(chunks).toHaveLength(events.length - 1)
    expect(chunks.some((c) => c['usage'] !== null)).toBe(false)
    const completion = await theCompletion(app)
    expect(completion).toMatchObject({
      outcome: 'completed',
      status: 200,
      backend: 'main',
      cache: 'miss',
      usage: { usage: USAGE, source: 'upstream', imageTokens: 576 },
      upstreamMs: UPSTREAM_MS,
      firstTokenMs: UPSTREAM_MS,
    })
    expect(completion.answer?.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'A cat on a mat.' }, logprobs: null, finish_reason: 'stop' },
    ])
  })

  it('assembles no whole answer for a stream the cache bypasses (nothing would store it), and meters it the same', async () => {
    const app = upstreamApp({ body: STREAM, lookup: { result: 'bypass' } })
    app.client.sse([sse(events)])
    await readText(await app.send())
    const completion = await theCompletion(app)
    expect(completion).toMatchObject({ outcome: 'completed', cache: 'bypass', usage: { usage: USAGE, source: 'upstream' } })
    expect(completion.answer).toBeUndefined()
  })

  it('relays an event stream whose media type comes in capitals (media types are case-insensitive, RFC 9110 §8.3.1)', async () => {
    const app = upstreamApp({ body: STREAM })
    app.client.stream(Readable.from([Buffer.from(sse(events))]), { 'content-type': 'Text/Event-Stream; charset=UTF-8' })
    const res = await app.send()
    expect(res.status).toBe(200)
    expect(jsonChunks(await readText(res))).toHaveLength(events.length - 1)
    expect((await theCompletion(app)).outcome).toBe('completed')
  })

  it('forwards the usage chunk to a client that asked for it', async () => {
    const app = upstreamApp({ body: STREAM_WITH_USAGE })
    app.client.sse([sse(events)])
    const chunks = jsonChunks(await readText(await app.send()))
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: USAGE })
  })

  it('completes a stream the client cancels as client_aborted, with the usage of what was sent, and drops the backend', async () => {
    const app = upstreamApp({ body: STREAM })
    const body = new Readable({ objectMode: true, read() {} })
    body.push(encode(sse(events.slice(0, 2), false)))
    app.client.stream(body)
    const res = await app.send()
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    await reader.read()
    await reader.cancel()
    const completion = await theCompletion(app)
    expect(completion).toMatchObject({ outcome: 'client_aborted', status: 200, backend: 'main', usage: { source: 'gateway' } })
    // What was sent: "A cat " (the role chunk has no text); the gateway counts it, the backend never reported.
    expect(completion.usage?.usage).toMatchObject({ prompt_tokens: 593, completion_tokens: countCompletionTokens('A cat ') })
    expect(completion).not.toHaveProperty('answer')
    expect(body.destroyed).toBe(true)
  })

  it('completes as client_aborted when the client disconnects while the backend is silent', async () => {
    const app = upstreamApp({ body: STREAM })
    const body = new Readable({ objectMode: true, read() {} })
    body.push(encode(sse(events.slice(0, 2), false)))
    app.client.stream(body)
    const disconnect = new AbortController()
    const res = await app.send({ signal: disconnect.signal })
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    await reader.read()
    const pending = reader.read()
    await settle()
    disconnect.abort()
    await pending.catch(() => undefined)
    expect(await theCompletion(app)).toMatchObject({ outcome: 'client_aborted', status: 200 })
    expect(body.destroyed).toBe(true)
  })

  it('completes a stream that breaks off as upstream_error with the error the client got in its last frame', async () => {
    const app = upstreamApp({ body: STREAM })
    app.client.sse([sse(events.slice(0, 3), false)])
    const data = dataFrames(await readText(await app.send()))
    expect(JSON.parse(data.at(-1) ?? '')).toMatchObject({ error: { code: 'upstream_stream_interrupted' } })
    const completion = await theCompletion(app)
    expect(completion).toMatchObject({
      outcome: 'upstream_error',
      status: 200,
      backend: 'main',
      error: { code: 'upstream_stream_interrupted', message: 'Backend "main" ended the stream before [DONE].' },
      usage: { source: 'gateway' },
    })
    expect(completion).not.toHaveProperty('answer')
  })
})

describe('upstream: the backend fails', () => {
  it('passes an error status on with its status and OpenAI body, and completes once as upstream_error', async () => {
    const app = upstreamApp()
    const backendError = {
      error: { message: 'Too many tokens.', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' },
    }
    app.client.json(400, backendError)
    const res = await app.send()
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual(backendError)
    expect(await theCompletion(app)).toEqual({
      outcome: 'upstream_error',
      status: 400,
      backend: 'main',
      cache: 'miss',
      upstreamMs: UPSTREAM_MS,
      error: { code: 'context_length_exceeded', message: 'Too many tokens.' },
    })
  })

  it('keeps the status of an error with an unreadable body, coded http_<status>, never echoing the body', async () => {
    const app = upstreamApp({ body: STREAM })
    app.client.raw(503, '<h1>stack trace at 0x7ffd</h1>', { 'content-type': 'text/html', 'retry-after': '5' })
    const res = await app.send()
    const error = await errorOf(res, 503)
    expect(error).toMatchObject({ code: null, message: 'Backend "main" answered HTTP 503.' })
    expect(error.raw).not.toContain('stack trace')
    expect(res.headers.get('retry-after')).toBe('5')
    expect(await theCompletion(app)).toMatchObject({ outcome: 'upstream_error', status: 503, error: { code: 'http_503' } })
  })

  it("answers 502 upstream_auth_failed when the backend refuses the gateway's credential", async () => {
    const app = upstreamApp()
    app.client.json(401, { error: { message: 'Invalid API key', code: 'invalid_api_key' } })
    await errorOf(await app.send(), 502, 'upstream_auth_failed')
    expect(await theCompletion(app)).toMatchObject({ outcome: 'upstream_error', status: 502, error: { code: 'upstream_auth_failed' } })
  })

  it('answers 502 upstream_bad_response for a 200 that is not a chat completion', async () => {
    const app = upstreamApp()
    app.client.raw(200, '<html>login</html>', { 'content-type': 'text/html' })
    await errorOf(await app.send(), 502, 'upstream_bad_response')
    expect(await theCompletion(app)).toMatchObject({ outcome: 'upstream_error', status: 502, backend: 'main' })
  })

  it('answers 502 upstream_bad_response for an answer nested past 64 levels, before anything re-serialises it', async () => {
    const app = upstreamApp()
    const deep = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`
    app.client.raw(200, `{"id":"x","choices":[],"extra":${deep}}`, { 'content-type': 'application/json' })
    const error = await errorOf(await app.send(), 502, 'upstream_bad_response')
    expect(error.message).toMatch(/deeper than 64 levels/)
  })

  it('answers 502 upstream_unreachable for a backend that cannot be reached, completing once without a backend', async () => {
    const app = upstreamApp()
    app.client.fail(networkFailure('main'))
    const error = await errorOf(await app.send(), 502, 'upstream_unreachable')
    expect(error.message).toBe('Backend "main" could not be reached (ECONNREFUSED).')
    const completion = await theCompletion(app)
    expect(completion).toEqual({
      outcome: 'upstream_error',
      status: 502,
      cache: 'miss',
      error: { code: 'upstream_unreachable', message: 'Backend "main" could not be reached (ECONNREFUSED).' },
    })
  })

  it('answers 504 upstream_timeout when the backend does not answer in time', async () => {
    const app = upstreamApp()
    app.client.fail(networkFailure('main', 'UND_ERR_HEADERS_TIMEOUT'))
    await errorOf(await app.send(), 504, 'upstream_timeout')
    expect(await theCompletion(app)).toMatchObject({ outcome: 'upstream_error', status: 504, error: { code: 'upstream_timeout' } })
  })

  it('completes as client_aborted when the send failed because the client had left', async () => {
    const app = upstreamApp()
    const left = new AbortController()
    left.abort()
    app.client.fail(networkFailure('main', 'UND_ERR_ABORTED'))
    await app.send({ signal: left.signal }).catch(() => undefined)
    expect(await theCompletion(app)).toMatchObject({ outcome: 'client_aborted' })
  })

  it('fails over to the next backend on 503, under that backend model name, and counts the failover', async () => {
    const app = upstreamApp({ model: 'with-fallback' })
    app.client.raw(503, 'overloaded').json(200, chatCompletion({ usage: USAGE }))
    expect((await app.send()).status).toBe(200)
    expect(app.client.sent.map((s) => [s.backend, s.json['model']])).toEqual([
      ['main', 'with-fallback'],
      ['backup', 'llava:7b'],
    ])
    expect(await counterSum(app.metrics.backendFailovers, { backend: 'main' })).toBe(1)
    expect(await theCompletion(app)).toMatchObject({ outcome: 'completed', backend: 'backup' })
  })

  it('fails over when the first backend is unreachable', async () => {
    const app = upstreamApp({ model: 'with-fallback' })
    app.client.fail(networkFailure('main')).json(200, chatCompletion({ usage: USAGE }))
    expect((await app.send()).status).toBe(200)
    expect(await theCompletion(app)).toMatchObject({ outcome: 'completed', backend: 'backup' })
  })
})
