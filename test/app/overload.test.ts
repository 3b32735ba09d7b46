import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, chatRequest, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// server.maxInFlightRequests: past it, quick refusals (503 overloaded, Retry-After) instead of
// everyone's latency; probes always answer.

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

describe('the in-flight cap', () => {
  it('refuses requests past server.maxInFlightRequests with 503 overloaded, answers probes, and admits again once one ends', async () => {
    const { app, deps } = buildTestApp({ ...testConfig(upstream.baseUrl), server: { maxInFlightRequests: 2 } })
    const { release } = upstream.holdAnswers((res) => replyJson(res, 200, chatCompletion()))
    const held = ['one', 'two'].map(async (text) => app.request('/v1/chat/completions', chatRequest(userText(text))))
    await upstream.untilCalls(2)
    const refused = await app.request('/v1/chat/completions', chatRequest(userText('three')))
    const error = await errorOf(refused, 503, 'overloaded')
    expect(error.message).toContain('server.maxInFlightRequests')
    expect(refused.headers.get('retry-after')).toBe('1')
    expect((await app.request('/healthz')).status).toBe(200)
    expect((await app.request('/readyz')).status).toBe(200)
    release()
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200])
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion()))
    expect((await app.request('/v1/chat/completions', chatRequest(userText('four')))).status).toBe(200)
    expect(upstream.calls).toHaveLength(3) // the refused one never reached the backend
    expect(await counterSum(deps.metrics.requests, { route: 'chat', status_class: '5xx' })).toBe(1)
  })

  it('counts any other API request until its handler is done, answered or not found, and a chat refused early until it is refused', async () => {
    const { app } = buildTestApp({ ...testConfig(upstream.baseUrl), server: { maxInFlightRequests: 1 } })
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion()))
    const authorized = { headers: { authorization: `Bearer ${TEST_KEY}` } }
    for (let i = 0; i < 3; i++) expect((await app.request('/v1/models', authorized)).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await app.request('/v1/no-such-thing', authorized)).status).toBe(404)
    for (let i = 0; i < 2; i++) await errorOf(await app.request('/v1/chat/completions', chatRequest(userText('hi'), null)), 401)
    expect((await app.request('/v1/chat/completions', chatRequest(userText('after')))).status).toBe(200)
  })

  it('counts a stream until its last byte, not until its handler returns', async () => {
    const { app, deps } = buildTestApp({ ...testConfig(upstream.baseUrl), server: { maxInFlightRequests: 1 } })
    upstream.handle((_call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(
        `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\n`,
      )
      // ...and the stream stays open
    })
    const streaming = await app.request('/v1/chat/completions', chatRequest({ ...userText('stream'), stream: true }))
    expect(streaming.status).toBe(200)
    await errorOf(await app.request('/v1/chat/completions', chatRequest(userText('next'))), 503, 'overloaded')
    await streaming.body?.cancel()
    // The stream's end is recorded once its tokens are counted (asynchronously): the gauge says when.
    await until(async () => (await deps.metrics.inFlight.get()).values[0]?.value === 0, { timeoutMs: 2_000, what: 'the stream to end' })
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion()))
    expect((await app.request('/v1/chat/completions', chatRequest(userText('after')))).status).toBe(200)
  })
})
