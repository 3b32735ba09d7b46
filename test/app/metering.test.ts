import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { countTextTokens } from '../../src/meter/text-tokens.js'
import { png, webpVp8l } from '../fixtures/images.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { dataFrames } from '../helpers/sse.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, chatRequest, MODEL, testConfig, type TestApp } from '../helpers/test-app.js'

// Prompt tokens are counted by the gateway at admission: the Llama-2 tokenizer over LLaVA-1.5's
// chat template, plus 576 per image whatever its size. Usage is filled when the backend omits it,
// and every response, streamed or not, is metered exactly once.

let upstream: FakeUpstream
let imageHost: ImageServer
let gateway: TestApp

const QUESTION = 'What’s in this image?'
/** `USER: <image>\n...<image>\n<question> ASSISTANT:` counted by hand from the template's text around the images. */
function expectedPromptTokens(images: number): number {
  const segments = ['USER: ', ...Array.from({ length: images - 1 }, () => '\n'), `\n${QUESTION} ASSISTANT:`]
  const text = segments.reduce((sum, segment, i) => sum + countTextTokens(segment, i === 0 ? {} : { bos: false, precedingSpace: false }), 0)
  return text + 576 * images
}

const image = (url: string) => ({ type: 'image_url', image_url: { url } })
const ask = (...urls: string[]) => ({
  model: MODEL,
  messages: [{ role: 'user', content: [...urls.map(image), { type: 'text', text: QUESTION }] }],
})
const promptCounter = () => counterSum(gateway.deps.metrics.promptTokens, { model: MODEL, key_alias: 'team-a-key', team: 'team-a' })
const withoutUsage = () => upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'A llama.', usage: null })))

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  imageHost = await ImageServer.start()
  imageHost.image('/cover.webp', webpVp8l(600, 400)).image('/other.png', png(1024, 768))
  gateway = buildTestApp({ ...testConfig(upstream.baseUrl), images: imageConfig(imageHost) })
})
beforeEach(withoutUsage)
afterAll(async () => {
  await imageHost.close()
  await upstream.close()
})

describe('prompt tokens for the hosted API examples', () => {
  const dataUrl = `data:image/png;base64,${png(640, 480).toString('base64')}`
  const examples = () => [
    { name: 'image URL', body: ask(imageHost.url('/cover.webp')), images: 1 },
    { name: 'base64 data URL', body: ask(dataUrl), images: 1 },
    { name: 'two images', body: ask(imageHost.url('/cover.webp'), imageHost.url('/other.png')), images: 2 },
  ]

  it.each([0, 1, 2])('example %i: 576 per image plus the counted text, in the counters and in usage', async (i) => {
    const example = examples()[i]!
    const before = await promptCounter()
    const imageBefore = await counterSum(gateway.deps.metrics.imageTokens, { model: MODEL })
    const res = await gateway.app.request('/v1/chat/completions', chatRequest(example.body))
    expect(res.status).toBe(200)
    const body = (await res.json()) as { usage: Record<string, unknown> }
    const expected = expectedPromptTokens(example.images)
    expect(body.usage).toMatchObject({
      prompt_tokens: expected,
      completion_tokens: countTextTokens('A llama.', { bos: false, precedingSpace: false }),
      prompt_tokens_details: { image_tokens: 576 * example.images },
    })
    expect(res.headers.get('x-gateway-usage-source')).toBe('gateway')
    expect((await promptCounter()) - before).toBe(expected)
    expect((await counterSum(gateway.deps.metrics.imageTokens, { model: MODEL })) - imageBefore).toBe(576 * example.images)
  })

  it('counts the template head `USER: ` with BOS as 5 tokens, as in the protocol notes (593 example)', () => {
    expect(expectedPromptTokens(1) - countTextTokens(`\n${QUESTION} ASSISTANT:`, { bos: false, precedingSpace: false })).toBe(5 + 576)
  })
})

describe('usage from the backend', () => {
  it('passes reported usage through and meters it with source upstream', async () => {
    const reported = {
      prompt_tokens: expectedPromptTokens(1),
      completion_tokens: 9,
      total_tokens: expectedPromptTokens(1) + 9,
      estimated_cost: 0.0001,
    }
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: reported })))
    const before = await counterSum(gateway.deps.metrics.completionTokens, { source: 'upstream' })
    const res = await gateway.app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/cover.webp'))))
    const body = (await res.json()) as { usage: unknown }
    expect(body.usage).toEqual(reported) // unknown usage keys tolerated and kept
    expect(res.headers.get('x-gateway-usage-source')).toBe('upstream')
    expect((await counterSum(gateway.deps.metrics.completionTokens, { source: 'upstream' })) - before).toBe(9)
  })

  it('counts a mismatch when the backend counts images differently', async () => {
    const mismatchesBefore = await counterSum(gateway.deps.metrics.usageMismatches, { model: MODEL })
    // An old llava server that counts each image as one token.
    upstream.handle((_call, res) =>
      replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: 18, completion_tokens: 3, total_tokens: 21 } })),
    )
    await gateway.app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/cover.webp'))))
    expect((await counterSum(gateway.deps.metrics.usageMismatches, { model: MODEL })) - mismatchesBefore).toBe(1)
    // Within tokenizer noise: no mismatch.
    upstream.handle((_call, res) =>
      replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: expectedPromptTokens(1) + 1, completion_tokens: 3, total_tokens: 0 } })),
    )
    await gateway.app.request('/v1/chat/completions', chatRequest(ask(imageHost.url('/cover.webp'))))
    expect((await counterSum(gateway.deps.metrics.usageMismatches, { model: MODEL })) - mismatchesBefore).toBe(1)
  })
})

describe('streams are always metered', () => {
  const sse = async (res: Response) => dataFrames(await res.text())
  const streamed = (includeUsage?: boolean) => ({
    ...ask(imageHost.url('/cover.webp')),
    stream: true,
    ...(includeUsage === undefined ? {} : { stream_options: { include_usage: includeUsage } }),
  })

  it('fills usage for a backend that sends none, as exactly one usage chunk before [DONE] when asked', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['A ', 'llama', '.'])))
    const before = await promptCounter()
    const frames = await sse(await gateway.app.request('/v1/chat/completions', chatRequest(streamed(true))))
    expect(frames.at(-1)).toBe('[DONE]')
    const usageChunks = frames
      .slice(0, -1)
      .map((f) => JSON.parse(f) as { usage?: unknown; choices: unknown[] })
      .filter((c) => c.usage)
    expect(usageChunks).toHaveLength(1)
    expect(usageChunks[0]).toMatchObject({
      object: 'chat.completion.chunk',
      id: 'chatcmpl-test',
      choices: [],
      usage: {
        prompt_tokens: expectedPromptTokens(1),
        completion_tokens: countTextTokens('A llama.', { bos: false, precedingSpace: false }),
      },
    })
    expect(frames.at(-2)).toBe(JSON.stringify(usageChunks[0]))
    expect((await promptCounter()) - before).toBe(expectedPromptTokens(1))
  })

  it('shows no usage chunk to a client that did not ask, and still meters the stream', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['A ', 'llama.'])))
    const before = await promptCounter()
    const frames = await sse(await gateway.app.request('/v1/chat/completions', chatRequest(streamed())))
    expect(frames.some((f) => f.includes('"usage":{'))).toBe(false)
    expect((await promptCounter()) - before).toBe(expectedPromptTokens(1))
  })

  it('honours include_usage: false like an absent flag', async () => {
    const usage = { prompt_tokens: 600, completion_tokens: 2, total_tokens: 602 }
    upstream.handle((_call, res) => replySse(res, completionChunks(['A ', 'llama.'], usage)))
    const frames = await sse(await gateway.app.request('/v1/chat/completions', chatRequest(streamed(false))))
    expect(frames.some((f) => f.includes('"usage":{'))).toBe(false)
    expect(upstream.calls.at(-1)?.body['stream_options']).toEqual({ include_usage: true })
  })

  it('meters a stream the backend breaks off, for what was generated', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['one two three']).slice(0, 2), { done: false }))
    const before = await counterSum(gateway.deps.metrics.completionTokens, { source: 'gateway' })
    const frames = await sse(await gateway.app.request('/v1/chat/completions', chatRequest(streamed(true))))
    expect(frames.at(-1)).toContain('"error"')
    expect((await counterSum(gateway.deps.metrics.completionTokens, { source: 'gateway' })) - before).toBe(
      countTextTokens('one two three', { bos: false, precedingSpace: false }),
    )
  })

  it('meters a client that disconnects mid-stream, for what it was sent', async () => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    upstream.handle(async (_call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const chunk of completionChunks(['first words']).slice(0, 2)) res.write(`data: ${JSON.stringify(chunk)}\n\n`)
      await held
      res.end()
    })
    const before = await counterSum(gateway.deps.metrics.completionTokens, { source: 'gateway' })
    const res = await gateway.app.request('/v1/chat/completions', chatRequest(streamed()))
    const reader = res.body!.getReader()
    let seen = ''
    // Stop at the end of the body too: a body that never says it (an error answer) must fail the
    // test, not spin on reads that resolve at once and starve the test timeout.
    while (!seen.includes('first words')) {
      const chunk = await reader.read()
      if (chunk.done) break
      seen += new TextDecoder().decode(chunk.value as Uint8Array)
    }
    expect(seen).toContain('first words')
    await reader.cancel()
    expect((await counterSum(gateway.deps.metrics.completionTokens, { source: 'gateway' })) - before).toBe(
      countTextTokens('first words', { bos: false, precedingSpace: false }),
    )
    release()
  })
})
