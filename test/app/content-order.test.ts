import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { png } from '../fixtures/images.js'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, MODEL, testConfig } from '../helpers/test-app.js'

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
beforeEach(() => {
  upstream.calls.length = 0
})
afterAll(() => upstream.close())

// Distinct small images as data URLs, so each part stays recognisable after forwarding.
const img = (n: number) => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${png(16 + n, 16).toString('base64')}` } })
const text = (t: string) => ({ type: 'text', text: t })
const textFirst = {
  model: MODEL,
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [text('Compare'), img(1), text('with'), img(2)] },
    { role: 'assistant', content: 'They differ.' },
    { role: 'user', content: [img(3), text('And this?')] },
  ],
}

const appWith = (contentOrder?: 'reorder' | 'reject' | 'allow') =>
  buildTestApp({
    ...testConfig(upstream.baseUrl),
    models: [{ id: MODEL, backend: 'main', ...(contentOrder ? { contentOrder } : {}) }],
  }).app
const sentContent = (i: number) => (upstream.calls[0]?.body['messages'] as Array<{ content: unknown }>)[i]?.content

describe('content order policy', () => {
  it('reorders by default: images first, each group in its order, and says which messages in a header', async () => {
    const res = await appWith().request('/v1/chat/completions', chatRequest(textFirst))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-gateway-reordered-messages')).toBe('1')
    expect(sentContent(1)).toEqual([img(1), img(2), text('Compare'), text('with')])
    expect(sentContent(3)).toEqual([img(3), text('And this?')]) // already image-first: untouched
    expect(sentContent(0)).toBe('Be brief.')
  })

  it('sends no header when nothing was moved', async () => {
    const res = await appWith('reorder').request('/v1/chat/completions', chatRequest({ model: MODEL, messages: [textFirst.messages[3]] }))
    expect(res.headers.get('x-gateway-reordered-messages')).toBeNull()
  })

  it('rejects text-first content with 400 text_before_image naming the message', async () => {
    const res = await appWith('reject').request('/v1/chat/completions', chatRequest(textFirst))
    const error = await errorOf(res, 400, 'text_before_image')
    expect(error.param).toBe('messages[1].content')
    expect(error.message).toContain('messages[1]')
    expect(upstream.calls).toHaveLength(0)
  })

  it('reject lets image-first content through', async () => {
    const res = await appWith('reject').request('/v1/chat/completions', chatRequest({ model: MODEL, messages: [textFirst.messages[3]] }))
    expect(res.status).toBe(200)
  })

  it('allow forwards content in the order the client sent it', async () => {
    const res = await appWith('allow').request('/v1/chat/completions', chatRequest(textFirst))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-gateway-reordered-messages')).toBeNull()
    expect(sentContent(1)).toEqual([text('Compare'), img(1), text('with'), img(2)])
  })
})
