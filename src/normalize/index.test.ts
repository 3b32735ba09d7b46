import { describe, expect, it } from 'vitest'
import { counterSum } from '../../test/helpers/metric-values.js'
import { errorOf } from '../../test/helpers/errors.js'
import { parsedRequest, stepApp, stepConfig } from '../../test/helpers/step-app.js'
import type { ModelConfig } from '../config/schema.js'
import { createLabeler } from '../metrics/labels.js'
import { createMetrics } from '../metrics/metrics.js'
import type { ChatRequest, ValidateVariables } from '../validate/index.js'
import { normalize, REORDERED_HEADER, type NormalizeVariables } from './index.js'

const config = stepConfig({
  models: [
    { id: 'reorders', backend: 'main', contentOrder: 'reorder', metricsLabel: 'llava-7b' },
    { id: 'rejects', backend: 'main', contentOrder: 'reject' },
    { id: 'allows', backend: 'main', contentOrder: 'allow' },
  ],
})
const modelNamed = (id: string) => config.models.find((m) => m.id === id) as ModelConfig

const text = (t: string) => ({ type: 'text', text: t })
const image = (name: string) => ({ type: 'image_url', image_url: { url: `https://images.example/${name}.png` } })

/** Message 0: system; 1: text before an image; 2: images already first; 3: image between texts. */
const MIXED = {
  model: 'reorders',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [text('What is this?'), image('a')] },
    { role: 'user', content: [image('b'), text('And this?')] },
    { role: 'user', content: [text('Compare'), image('c'), text('with'), image('d')] },
  ],
}
const IMAGES_FIRST = { model: 'reorders', messages: [{ role: 'user', content: [image('a'), image('b'), text('Compare them.')] }] }

function normalizeApp(modelId: string, body: Record<string, unknown>) {
  const metrics = createMetrics({ defaultMetrics: false })
  const request = parsedRequest(body)
  const { app, reached } = stepApp<ValidateVariables & NormalizeVariables>(normalize({ metrics, labels: createLabeler(config) }), () => ({
    chatRequest: request,
    model: modelNamed(modelId),
  }))
  return { send: () => app.request('/', { method: 'POST' }), reached, metrics, request }
}

const reorders = (metrics: ReturnType<typeof createMetrics>, model?: string) =>
  counterSum(metrics.contentReorders, model === undefined ? {} : { model })

describe('normalize: contentOrder reorder', () => {
  it('moves images ahead of text in the messages that need it, keeping the order within each group', async () => {
    const { send, reached } = normalizeApp('reorders', MIXED)
    expect((await send()).status).toBe(200)
    const messages = reached[0]?.chatRequest?.messages
    expect(messages?.[1]?.content).toEqual([image('a'), text('What is this?')])
    expect(messages?.[3]?.content).toEqual([image('c'), image('d'), text('Compare'), text('with')])
  })

  it('leaves the other messages as they were (the same objects) and the rest of the request alone', async () => {
    const { send, reached, request } = normalizeApp('reorders', { ...MIXED, temperature: 0, user: 'u-1' })
    await send()
    const after = reached[0]?.chatRequest as ChatRequest
    expect(after).not.toBe(request)
    expect(after.messages[0]).toBe(request.messages[0])
    expect(after.messages[2]).toBe(request.messages[2])
    expect({ ...after, messages: undefined }).toEqual({ ...request, messages: undefined })
  })

  it('does not change the request object it was given', async () => {
    const { send, request } = normalizeApp('reorders', MIXED)
    const before = structuredClone(request)
    await send()
    expect(request).toEqual(before)
  })

  it('sets reorderedMessages and the header to the indexes of the reordered messages', async () => {
    const { send, reached } = normalizeApp('reorders', MIXED)
    const res = await send()
    expect(reached[0]?.reorderedMessages).toEqual([1, 3])
    expect(res.headers.get(REORDERED_HEADER)).toBe('1,3')
    expect(REORDERED_HEADER).toBe('x-gateway-reordered-messages')
  })

  it('counts each reordered message in the content reorders metric, under the model label', async () => {
    const { send, metrics } = normalizeApp('reorders', MIXED)
    await send()
    expect(await reorders(metrics, 'llava-7b')).toBe(2)
    expect(await reorders(metrics)).toBe(2)
  })

  it('changes nothing, sets no header and counts nothing when every message already has its images first', async () => {
    const { send, reached, metrics, request } = normalizeApp('reorders', IMAGES_FIRST)
    const res = await send()
    expect(reached[0]?.chatRequest).toBe(request)
    expect(reached[0]?.reorderedMessages).toEqual([])
    expect(res.headers.has(REORDERED_HEADER)).toBe(false)
    expect(await reorders(metrics)).toBe(0)
  })

  it('leaves string content and text-only messages alone', async () => {
    const { send, reached, request } = normalizeApp('reorders', { model: 'reorders', messages: [{ role: 'user', content: 'hi' }] })
    await send()
    expect(reached[0]?.chatRequest).toBe(request)
  })
})

describe('normalize: contentOrder reject', () => {
  it('answers 400 text_before_image naming the first message with text before an image', async () => {
    const { send, reached, metrics } = normalizeApp('rejects', MIXED)
    const error = await errorOf(await send(), 400, 'text_before_image')
    expect(error.param).toBe('messages[1].content')
    expect(error.message).toContain('messages[1] has text before an image')
    expect(error.message).toContain('`rejects`')
    expect(reached).toHaveLength(0)
    expect(await reorders(metrics)).toBe(0)
  })

  it('lets a request with images first through unchanged, without the header', async () => {
    const { send, reached, request } = normalizeApp('rejects', IMAGES_FIRST)
    const res = await send()
    expect(res.status).toBe(200)
    expect(reached[0]?.chatRequest).toBe(request)
    expect(reached[0]?.reorderedMessages).toEqual([])
    expect(res.headers.has(REORDERED_HEADER)).toBe(false)
  })
})

describe('normalize: contentOrder allow', () => {
  it('leaves text before images as it is: same request, no header, nothing counted', async () => {
    const { send, reached, metrics, request } = normalizeApp('allows', MIXED)
    const res = await send()
    expect(res.status).toBe(200)
    expect(reached[0]?.chatRequest).toBe(request)
    expect(reached[0]?.reorderedMessages).toEqual([])
    expect(res.headers.has(REORDERED_HEADER)).toBe(false)
    expect(await reorders(metrics)).toBe(0)
  })
})
