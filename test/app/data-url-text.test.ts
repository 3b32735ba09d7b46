import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, MODEL, testConfig } from '../helpers/test-app.js'

// A long data URL is kept as the body's bytes while it is parsed; only an image part's is an image.
// Anywhere else it is text, or a parameter, and must reach the tokenizer and the backend as sent.

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

const app = (contextWindow: number) =>
  buildTestApp({
    ...testConfig(upstream.baseUrl),
    server: { bodyLimitBytes: 1024 * 1024 },
    models: [{ id: MODEL, backend: 'main', contextWindow }],
  }).app
const longDataUrl = `data:image/png;base64,${'QUJD'.repeat(20_000)}` // 80 KB: past the 64 KiB the parse keeps as bytes

describe('a long data URL that is not an image part', () => {
  it('reaches the backend as it was sent: as a message, a text part, or a parameter', async () => {
    for (const body of [
      { model: MODEL, messages: [{ role: 'user', content: longDataUrl }] },
      { model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: longDataUrl }] }] },
      { model: MODEL, messages: [{ role: 'user', content: 'hi' }], user: longDataUrl },
    ]) {
      upstream.calls.length = 0
      expect((await app(1_000_000).request('/v1/chat/completions', chatRequest(body))).status).toBe(200)
      expect(upstream.calls[0]?.body).toMatchObject(body)
    }
  })

  it('is counted as the text it is', async () => {
    upstream.calls.length = 0
    const body = { model: MODEL, messages: [{ role: 'user', content: longDataUrl }] }
    const error = await errorOf(await app(4_096).request('/v1/chat/completions', chatRequest(body)), 400, 'context_length_exceeded')
    expect(error.message).toMatch(/resulted in (at least )?\d{4,} tokens/)
    expect(upstream.calls).toHaveLength(0)
  })
})
