import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { png, pngHeader, webpVp8l } from '../fixtures/images.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { listen } from '../helpers/gateway-server.js'
import { buildTestApp, MODEL, TEST_KEY, testConfig } from '../helpers/test-app.js'

// The official openai client against the gateway on a real socket, the gateway against a real
// loopback backend: the hosted API's three documented requests, streaming, and failures.

let upstream: FakeUpstream
let imageHost: ImageServer
let gateway: Awaited<ReturnType<typeof listen>>
let client: OpenAI
let IMAGE_URL: string
let OTHER_IMAGE_URL: string

const RENAMED_MODEL = 'local/llava'
const COVER = webpVp8l(600, 400)
const OTHER_COVER = png(600, 400)
const DATA_URL = `data:image/png;base64,${png(64, 48).toString('base64')}`
const dataUrlOf = (bytes: Buffer, mime: string) => `data:${mime};base64,${bytes.toString('base64')}`
const whatsInIt = { type: 'text' as const, text: 'What’s in this image?' }

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  imageHost = await ImageServer.start()
  imageHost.image('/llava/cover.webp', COVER, 'image/webp').image('/llama-2/cover.webp', OTHER_COVER, 'image/webp')
  IMAGE_URL = imageHost.url('/llava/cover.webp')
  OTHER_IMAGE_URL = imageHost.url('/llama-2/cover.webp')
  const config = testConfig(upstream.baseUrl)
  // The same model under a name of the gateway's own: the backend is sent its name for it.
  const renamed = { ...(config.models[0] as (typeof config.models)[number]), id: RENAMED_MODEL, upstreamModel: MODEL }
  const { app } = buildTestApp({ ...config, models: [...config.models, renamed], images: imageConfig(imageHost) })
  gateway = await listen(app)
  client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1/openai`, maxRetries: 0 })
})
afterAll(async () => {
  await gateway.close()
  await imageHost.close()
  await upstream.close()
})
afterEach(() => {
  upstream.calls.length = 0
  upstream.handle((_call, res) => replyJson(res, 200, chatCompletion()))
})

describe('the hosted API examples, unchanged but for base URL and key', () => {
  it('answers the curl example (image URL, then text)', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: IMAGE_URL } }, whatsInIt] }],
    })
    expect(completion.choices[0]?.message.content).toBe('A llama next to a volcano.')
    expect(completion.usage?.prompt_tokens).toBe(593)
    expect(completion._request_id).toMatch(/^[0-9a-f-]{36}$/)
    const [call] = upstream.calls
    expect(call?.path).toBe('/v1/chat/completions')
    expect(call?.body['model']).toBe(MODEL)
    expect(call?.headers['authorization']).toBeUndefined() // the client's gateway key is never forwarded
    // The backend gets the very bytes the gateway fetched and checked, typed from their magic bytes.
    const messages = call?.body['messages'] as Array<{ content: Array<{ image_url?: { url: string } }> }>
    expect(messages[0]?.content[0]?.image_url?.url).toBe(dataUrlOf(COVER, 'image/webp'))
  })

  it('answers the SDK example with a base64 data URL', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: DATA_URL } }, whatsInIt] }],
    })
    expect(completion.choices[0]?.finish_reason).toBe('stop')
    const messages = upstream.calls[0]?.body['messages'] as Array<{ content: Array<{ type: string }> }>
    expect(messages[0]?.content.map((p) => p.type)).toEqual(['image_url', 'text'])
  })

  it('sends the backend, byte for byte, the body the SDK sent with a 100 KiB image as a data URL', async () => {
    const image = Buffer.concat([pngHeader(800, 600), Buffer.alloc(100 * 1024, 7)])
    const params = {
      model: MODEL,
      messages: [
        { role: 'user' as const, content: [{ type: 'image_url' as const, image_url: { url: dataUrlOf(image, 'image/png') } }, whatsInIt] },
      ],
      max_tokens: 64,
    }
    await client.chat.completions.create(params)
    const sent = upstream.calls[0]?.raw ?? ''
    expect(sent.length).toBe(JSON.stringify(params).length) // toBe on the whole body would print 137 KB on failure
    expect(sent === JSON.stringify(params)).toBe(true)
  })

  it("sends the backend the SDK's body with the backend's name for a renamed model, the rest byte for byte", async () => {
    const image = Buffer.concat([pngHeader(800, 600), Buffer.alloc(100 * 1024, 7)])
    const content = [{ type: 'image_url' as const, image_url: { url: dataUrlOf(image, 'image/png') } }, whatsInIt]
    const params = { model: RENAMED_MODEL, messages: [{ role: 'user' as const, content }], max_tokens: 64 }
    // Twice: the memory a body is read into is used again by later requests.
    for (let i = 0; i < 2; i++) await client.chat.completions.create(params)
    const expected = JSON.stringify({ ...params, model: MODEL })
    for (const call of upstream.calls) expect(call.raw === expected).toBe(true)
    expect(upstream.calls).toHaveLength(2)
  })

  it('answers the two-image example', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: IMAGE_URL } },
            { type: 'image_url', image_url: { url: OTHER_IMAGE_URL } },
            whatsInIt,
          ],
        },
      ],
    })
    expect(completion.object).toBe('chat.completion')
    const messages = upstream.calls[0]?.body['messages'] as Array<{ content: Array<{ image_url?: { url: string } }> }>
    expect(messages[0]?.content.map((p) => p.image_url?.url)).toEqual([
      dataUrlOf(COVER, 'image/webp'),
      dataUrlOf(OTHER_COVER, 'image/png'), // served as image/webp, but the bytes say PNG
      undefined,
    ])
  })

  it('lists the configured models on both path prefixes', async () => {
    const page = await client.models.list()
    expect(page.data.map((m) => m.id)).toEqual([MODEL, RENAMED_MODEL])
    const direct = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 })
    expect((await direct.models.retrieve(MODEL)).id).toBe(MODEL)
  })
})

describe('streaming', () => {
  const imageRequest = () => ({
    model: MODEL,
    messages: [{ role: 'user' as const, content: [{ type: 'image_url' as const, image_url: { url: IMAGE_URL } }, whatsInIt] }],
  })
  const usage = { prompt_tokens: 593, completion_tokens: 3, total_tokens: 596 }

  it('relays chunks in order and ends with exactly one usage chunk when asked', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['A ', 'llama', '.'], usage)))
    const stream = await client.chat.completions.create({ ...imageRequest(), stream: true, stream_options: { include_usage: true } })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('A llama.')
    const usageChunks = chunks.filter((c) => c.usage)
    expect(usageChunks).toHaveLength(1)
    expect(usageChunks[0]?.choices).toEqual([])
    expect(chunks.at(-1)?.usage).toEqual(usage)
  })

  it('asks the backend for usage even when the client did not, and hides that chunk from the client', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['A ', 'llama.'], usage)))
    const stream = await client.chat.completions.create({ ...imageRequest(), stream: true })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(upstream.calls[0]?.body['stream_options']).toEqual({ include_usage: true })
    expect(chunks.some((c) => c.usage)).toBe(false)
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true)
  })

  it("sends the backend the SDK's streamed image request with the usage option added, the rest byte for byte", async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['A ', 'llama.'], usage)))
    const image = Buffer.concat([pngHeader(800, 600), Buffer.alloc(100 * 1024, 7)])
    const content = [{ type: 'image_url' as const, image_url: { url: dataUrlOf(image, 'image/png') } }, whatsInIt]
    const params = { model: RENAMED_MODEL, messages: [{ role: 'user' as const, content }], stream: true as const }
    for await (const chunk of await client.chat.completions.create(params)) expect(chunk.usage ?? undefined).toBeUndefined()
    const expected = JSON.stringify({ ...params, model: MODEL, stream_options: { include_usage: true } })
    expect(upstream.calls[0]?.raw === expected).toBe(true)
  })

  it('raises a backend error event that arrives after the stream started', async () => {
    upstream.handle((_call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(completionChunks(['partial'])[1])}\n\n`)
      res.end(`data: ${JSON.stringify({ error: { message: 'CUDA out of memory', type: 'server_error', code: 500 } })}\n\n`)
    })
    const stream = await client.chat.completions.create({ ...imageRequest(), stream: true })
    const seen: string[] = []
    await expect(async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '')
    }).rejects.toThrow(/CUDA out of memory/)
    expect(seen).toEqual(['partial'])
  })

  it('raises an error when the backend ends the stream without [DONE]', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['cut']).slice(0, 2), { done: false }))
    const stream = await client.chat.completions.create({ ...imageRequest(), stream: true })
    await expect(async () => {
      for await (const chunk of stream) expect(chunk).toBeDefined()
    }).rejects.toThrow(/ended the stream before \[DONE\]/)
  })
})

describe('backend failures', () => {
  const request = { model: MODEL, messages: [{ role: 'user' as const, content: 'hi' }] }

  it('passes a backend 500 through as InternalServerError', async () => {
    upstream.handle((_call, res) =>
      replyJson(res, 500, { error: { message: 'engine crashed', type: 'server_error', param: null, code: null } }),
    )
    const error = await client.chat.completions.create(request).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('engine crashed')
  })

  it('passes a backend 429 through as RateLimitError, with its Retry-After', async () => {
    upstream.handle((_call, res) =>
      replyJson(
        res,
        429,
        { error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } },
        { 'retry-after': '7' },
      ),
    )
    const error = (await client.chat.completions.create(request).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.RateLimitError>
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
    expect(error.code).toBe('rate_limit_exceeded')
    expect(error.headers.get('retry-after')).toBe('7')
  })

  it('answers 502 when the backend refuses the connection', async () => {
    const closed = await FakeUpstream.start()
    const baseUrl = closed.baseUrl
    await closed.close()
    const { app } = buildTestApp(testConfig(baseUrl))
    const server = await listen(app)
    try {
      const sdk = new OpenAI({ apiKey: TEST_KEY, baseURL: `${server.url}/v1`, maxRetries: 0 })
      const error = (await sdk.chat.completions.create(request).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>
      expect(error.status).toBe(502)
      expect(error.code).toBe('upstream_unreachable')
      expect(error.message).not.toContain('127.0.0.1') // no internal address in errors
    } finally {
      await server.close()
    }
  })

  it('answers 504 when the backend accepts and never answers', async () => {
    upstream.handle(() => undefined) // hold the request open
    const config = testConfig(upstream.baseUrl)
    const { app } = buildTestApp({
      ...config,
      backends: { main: { baseUrl: upstream.baseUrl, timeouts: { connectMs: 1_000, headersMs: 150, bodyIdleMs: 150 } } },
    })
    const server = await listen(app)
    try {
      const sdk = new OpenAI({ apiKey: TEST_KEY, baseURL: `${server.url}/v1`, maxRetries: 0 })
      const error = (await sdk.chat.completions.create(request).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>
      expect(error.status).toBe(504)
      expect(error.code).toBe('upstream_timeout')
    } finally {
      await server.close()
    }
  })
})
