import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, MODEL, OTHER_KEY, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

describe('auth', () => {
  it('refuses a request without a key with 401 missing_api_key', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi'), null))
    expect(res.status).toBe(401)
    expect(await errorOf(res)).toMatchObject({ code: 'missing_api_key', type: 'authentication_error' })
  })

  it('refuses an unknown key with 401 invalid_api_key and does not echo it', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi'), 'sk-guess-1234'))
    expect(res.status).toBe(401)
    const error = await errorOf(res)
    expect(error.code).toBe('invalid_api_key')
    expect(error.message).not.toContain('sk-guess-1234')
  })

  it('refuses a malformed Authorization header', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    const init = chatRequest(userText('hi'))
    const res = await app.request('/v1/chat/completions', {
      ...init,
      headers: { 'content-type': 'application/json', authorization: `Basic ${TEST_KEY}` },
    })
    expect(res.status).toBe(401)
  })

  it('accepts a key configured only by its SHA-256', async () => {
    const sha256 = createHash('sha256').update('sk-hashed-only').digest('hex')
    const { app } = buildTestApp({ ...testConfig(upstream.baseUrl), keys: [{ alias: 'hashed', sha256 }] })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi'), 'sk-hashed-only'))
    expect(res.status).toBe(200)
  })

  it('allows anonymous calls only when the config says so', async () => {
    const closed = buildTestApp({ ...testConfig(upstream.baseUrl), keys: [] })
    expect((await closed.app.request('/v1/chat/completions', chatRequest(userText('hi'), null))).status).toBe(401)
    const open = buildTestApp({ ...testConfig(upstream.baseUrl), keys: [], auth: { allowAnonymous: true } })
    expect((await open.app.request('/v1/chat/completions', chatRequest(userText('hi'), null))).status).toBe(200)
  })

  it('keeps a key to its allowed models: others look like unknown models (404)', async () => {
    const config = testConfig(upstream.baseUrl)
    const { app } = buildTestApp({
      ...config,
      models: [
        { id: MODEL, backend: 'main' },
        { id: 'other-model', backend: 'main' },
      ],
      keys: [
        { alias: 'narrow', secret: TEST_KEY, models: ['other-model'] },
        { alias: 'wide', secret: OTHER_KEY },
      ],
    })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(404)
    expect((await errorOf(res)).code).toBe('model_not_found')
    const list = (await (await app.request('/v1/models', { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as {
      data: Array<{ id: string }>
    }
    expect(list.data.map((m) => m.id)).toEqual(['other-model'])
    expect((await app.request('/v1/chat/completions', chatRequest(userText('hi'), OTHER_KEY))).status).toBe(200)
  })

  it('sends the backend its own credential, never the client key', async () => {
    const config = testConfig(upstream.baseUrl)
    const { app } = buildTestApp({ ...config, backends: { main: { baseUrl: upstream.baseUrl, apiKey: 'upstream-token' } } })
    upstream.calls.length = 0
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(upstream.calls[0]?.headers['authorization']).toBe('Bearer upstream-token')
    expect(JSON.stringify(upstream.calls[0]?.headers)).not.toContain(TEST_KEY)
  })

  it('turns a backend 401 into 502: the client key was fine, the gateway credential was not', async () => {
    upstream.handle((_call, res) => {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: 'bad token', type: 'invalid_request_error', code: 'invalid_api_key' } }))
    })
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(502)
    expect(res.headers.get('x-should-retry')).toBe('false')
    expect((await errorOf(res)).code).toBe('upstream_auth_failed')
  })
})
