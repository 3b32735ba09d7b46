import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listen } from '../helpers/gateway-server.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, testConfig, userText } from '../helpers/test-app.js'

// Every answer is built from the headers the steps set (src/reply/reply.ts): these check that none
// is left without them, whichever way it was built, and over a real socket (direct bodies) too.

let upstream: FakeUpstream
let server: Awaited<ReturnType<typeof listen>>
beforeAll(async () => {
  upstream = await FakeUpstream.start()
  const { app } = buildTestApp(testConfig(upstream.baseUrl))
  server = await listen(app)
})
afterAll(async () => {
  await server.close()
  await upstream.close()
})

const post = (body: Record<string, unknown>, key?: string | null) => fetch(`${server.url}/v1/chat/completions`, chatRequest(body, key))
const requestIdOf = (res: Response) => res.headers.get('x-request-id')

describe('response headers', () => {
  it('a backend answer carries the request id, the usage source and the backend headers the gateway forwards', async () => {
    upstream.handle((_call, res) =>
      replyJson(res, 200, chatCompletion({ content: 'fine' }), { 'x-request-id': 'from-backend', 'retry-after-ms': '250' }),
    )
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      ...chatRequest(userText('hi')),
      headers: { ...(chatRequest(userText('hi')).headers as object), 'x-request-id': 'mine-1' },
    })
    expect(res.status).toBe(200)
    expect(requestIdOf(res)).toBe('mine-1')
    expect(res.headers.get('x-gateway-usage-source')).toBe('upstream')
    expect(res.headers.get('retry-after-ms')).toBe('250')
    expect(res.headers.get('content-type')).toBe('application/json')
    await res.json()
  })

  it('a stream carries the request id with the event-stream headers', async () => {
    upstream.handle((_call, res) => replySse(res, completionChunks(['fine'])))
    const res = await post({ ...userText('hi'), stream: true })
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-cache')
    expect(requestIdOf(res)).toMatch(/^[0-9a-f-]{36}$/)
    expect(await res.text()).toContain('[DONE]')
  })

  it('errors, refusals and unknown paths carry the request id', async () => {
    const unauthorized = await post(userText('hi'), null)
    expect(unauthorized.status).toBe(401)
    expect(requestIdOf(unauthorized)).toMatch(/^[0-9a-f-]{36}$/)
    const invalid = await post({ model: 'llava-hf/llava-1.5-7b-hf', messages: 'not a list' })
    expect(invalid.status).toBe(400)
    expect(requestIdOf(invalid)).toMatch(/^[0-9a-f-]{36}$/)
    const missing = await fetch(`${server.url}/nowhere`)
    expect(missing.status).toBe(404)
    expect(requestIdOf(missing)).toMatch(/^[0-9a-f-]{36}$/)
    expect(missing.headers.get('content-type')).toBe('application/json')
  })

  it("routes that answer with hono's c.json carry it too, beside their own content type", async () => {
    const res = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'probe-7' } })
    expect(requestIdOf(res)).toBe('probe-7')
    expect(res.headers.get('content-type')).toBe('application/json')
  })
})
