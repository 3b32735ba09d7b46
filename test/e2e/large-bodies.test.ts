import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { releaseBodyMemory } from '../../src/lib/body-memory.js'
import { pngHeader } from '../fixtures/images.js'
import { capturedLog } from '../helpers/captured-log.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { buildTestApp, MODEL, TEST_KEY, testConfig } from '../helpers/test-app.js'

// Bodies of 1 MiB images, sent by the openai client over a real socket, and 1 MiB images the gateway
// downloads: each body's and each download's memory is given back when its request is over
// (lib/body-memory.ts), and nothing the gateway does after that needs it.

vi.mock('../../src/lib/body-memory.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lib/body-memory.js')>()
  return { ...real, releaseBodyMemory: vi.fn(real.releaseBodyMemory) }
})

const RENAMED_MODEL = 'local/llava'
const usage = { prompt_tokens: 593, completion_tokens: 2, total_tokens: 595 }

let upstream: FakeUpstream
let imageHost: ImageServer
let gateway: Awaited<ReturnType<typeof listen>>
let client: OpenAI
const captured = capturedLog('warn')

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  imageHost = await ImageServer.start()
  upstream.handle((call, res) =>
    call.body['stream'] === true ? replySse(res, completionChunks(['A ', 'llama.'], usage)) : replyJson(res, 200, chatCompletion()),
  )
  const config = testConfig(upstream.baseUrl)
  const renamed = { ...(config.models[0] as (typeof config.models)[number]), id: RENAMED_MODEL, upstreamModel: MODEL }
  const { app } = buildTestApp({ ...config, models: [...config.models, renamed], images: imageConfig(imageHost) }, { log: captured.log })
  gateway = await listen(app)
  client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 })
})
afterAll(async () => {
  await gateway.close()
  await upstream.close()
  await imageHost.close()
})

/** A PNG of a little over 1 MiB, its bytes all `fill` past the header. */
const largePng = (fill: number) => Buffer.concat([pngHeader(800, 600), Buffer.alloc(1 << 20, fill)])

const requestFor = (url: string, extra: Record<string, unknown> = {}) => ({
  model: RENAMED_MODEL,
  messages: [
    {
      role: 'user' as const,
      content: [
        { type: 'image_url' as const, image_url: { url } },
        { type: 'text' as const, text: 'What is in this image?' },
      ],
    },
  ],
  ...extra,
})

const imageRequest = (fill: number, extra: Record<string, unknown> = {}) =>
  requestFor(`data:image/png;base64,${largePng(fill).toString('base64')}`, extra)

/** Each request once, streamed when it asks to be; the answers' texts. */
const answersTo = (requests: ReadonlyArray<ReturnType<typeof requestFor>>) =>
  Promise.all(
    requests.map(async (params) => {
      if (!('stream' in params)) return (await client.chat.completions.create(params)).choices[0]?.message.content
      let text = ''
      for await (const chunk of await client.chat.completions.create({ ...params, stream: true }))
        text += chunk.choices[0]?.delta.content ?? ''
      return text
    }),
  )

const givenBack = () => vi.mocked(releaseBodyMemory).mock.results.filter((r) => r.value === true)

describe('1 MiB images as data URLs', () => {
  it('reach the backend byte for byte, several at once, streamed or not, and each body is given back when its request is over', async () => {
    vi.mocked(releaseBodyMemory).mockClear()
    const requests = Array.from({ length: 6 }, (_, i) => imageRequest(i, i % 2 ? { stream: true } : {}))
    const answers = await answersTo(requests)
    expect(answers.every((answer) => typeof answer === 'string' && answer.length > 0)).toBe(true)
    const expected = requests.map((params) =>
      JSON.stringify({ ...params, model: MODEL, ...('stream' in params ? { stream_options: { include_usage: true } } : {}) }),
    )
    const sent = upstream.calls.map((call) => call.raw)
    expect(sent).toHaveLength(6)
    expect(expected.every((body) => sent.includes(body))).toBe(true)
    await vi.waitFor(() => expect(givenBack()).toHaveLength(6))
    expect(captured.lines.filter((line) => line['level'] === 50)).toEqual([])
  })

  it('are answered from the cache the second time: the key was made from the image before its body went back', async () => {
    upstream.calls.length = 0
    const params = imageRequest(9, { temperature: 0 })
    const first = await client.chat.completions.create(params).withResponse()
    const second = await client.chat.completions.create(params).withResponse()
    expect([first.response.headers.get('x-cache'), second.response.headers.get('x-cache')]).toEqual(['MISS', 'HIT'])
    expect(second.data.choices[0]?.message.content).toBe(first.data.choices[0]?.message.content)
    expect(upstream.calls).toHaveLength(1)
    expect(captured.lines.filter((line) => line['level'] === 50)).toEqual([])
  })
})

describe('1 MiB images by URL', () => {
  it('reach the backend as the base64 of the bytes downloaded, several at once, streamed or not, and each download is given back when its request is over', async () => {
    upstream.calls.length = 0
    vi.mocked(releaseBodyMemory).mockClear()
    const images = Array.from({ length: 6 }, (_, i) => largePng(20 + i))
    images.forEach((bytes, i) => imageHost.image(`/large-${i}.png`, bytes, 'image/png'))
    const requests = images.map((_, i) => requestFor(imageHost.url(`/large-${i}.png`), i % 2 ? { stream: true } : {}))
    const answers = await answersTo(requests)
    expect(answers.every((answer) => typeof answer === 'string' && answer.length > 0)).toBe(true)
    const sent = upstream.calls.map((call) => call.raw)
    expect(sent).toHaveLength(6)
    for (const bytes of images)
      expect(sent.filter((body) => body.includes(`"data:image/png;base64,${bytes.toString('base64')}"`))).toHaveLength(1)
    await vi.waitFor(() => expect(givenBack()).toHaveLength(6))
    expect(captured.lines.filter((line) => line['level'] === 50)).toEqual([])
  })

  it('are answered from the cache the second time: the key was made from the bytes before they went back', async () => {
    upstream.calls.length = 0
    vi.mocked(releaseBodyMemory).mockClear()
    imageHost.image('/cached.png', largePng(40), 'image/png')
    const params = requestFor(imageHost.url('/cached.png'), { temperature: 0 })
    const first = await client.chat.completions.create(params).withResponse()
    const second = await client.chat.completions.create(params).withResponse()
    expect([first.response.headers.get('x-cache'), second.response.headers.get('x-cache')]).toEqual(['MISS', 'HIT'])
    expect(upstream.calls).toHaveLength(1)
    await vi.waitFor(() => expect(givenBack()).toHaveLength(2))
    expect(captured.lines.filter((line) => line['level'] === 50)).toEqual([])
  })
})
