import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { completionChunks, FakeUpstream, replySse } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, testConfig, userText } from '../helpers/test-app.js'

// server.cors.allowOrigins: browsers on those origins may call the gateway; preflights are
// answered (they used to get 404), and only allowed origins get Access-Control-Allow-Origin.

const ALLOWED = 'https://app.example.com'
const REFUSED = 'https://evil.example.net'

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

const appAllowing = (allowOrigins: string[] | undefined) =>
  buildTestApp(testConfig(upstream.baseUrl, allowOrigins ? { server: { cors: { allowOrigins } } } : {})).app

const preflight = (origin: string, path = '/v1/chat/completions') =>
  new Request(`http://gateway${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  })

function withOrigin(init: RequestInit, origin: string): RequestInit {
  const headers = new Headers(init.headers)
  headers.set('origin', origin)
  return { ...init, headers }
}

describe('CORS preflight', () => {
  it('grants an allowed origin what it asked for, before any key is checked', async () => {
    const calls = upstream.calls.length
    const res = await appAllowing([ALLOWED, 'http://localhost:5173']).request(preflight(ALLOWED))
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS')
    // Echoed, since a literal `*` would not cover Authorization.
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type')
    expect(res.headers.get('access-control-max-age')).toBe('600')
    expect(res.headers.get('vary')).toContain('Origin')
    expect(await res.text()).toBe('')
    expect(upstream.calls).toHaveLength(calls)
  })

  it('answers a refused origin without any permission, so the browser stops there', async () => {
    const res = await appAllowing([ALLOWED]).request(preflight(REFUSED))
    expect(res.status).toBe(204)
    for (const name of [
      'access-control-allow-origin',
      'access-control-allow-methods',
      'access-control-allow-headers',
      'access-control-max-age',
    ]) {
      expect(res.headers.get(name), name).toBeNull()
    }
    expect(res.headers.get('vary')).toContain('Origin')
  })

  it('allows no origin by default, but still answers the preflight (not 404)', async () => {
    const res = await appAllowing(undefined).request(preflight(ALLOWED, '/v1/models'))
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('lists only the configured request headers when they are given', async () => {
    const { app } = buildTestApp(
      testConfig(upstream.baseUrl, { server: { cors: { allowOrigins: [ALLOWED], allowHeaders: ['authorization', 'content-type'] } } }),
    )
    const res = await app.request(preflight(ALLOWED))
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type')
  })

  it('passes an OPTIONS that is no preflight on, like any request: the key is checked', async () => {
    const res = await appAllowing([ALLOWED]).request('/v1/models', { method: 'OPTIONS', headers: { origin: ALLOWED } })
    await errorOf(res, 401, 'missing_api_key')
    expect(res.headers.get('access-control-allow-methods')).toBeNull()
  })
})

describe('CORS on actual responses', () => {
  it('carries Access-Control-Allow-Origin only for an allowed origin', async () => {
    const app = appAllowing([ALLOWED])
    const allowed = await app.request('/v1/chat/completions', withOrigin(chatRequest(userText('hi')), ALLOWED))
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(allowed.headers.get('access-control-expose-headers')).toContain('x-request-id')
    expect(allowed.headers.get('vary')).toContain('Origin')

    const refused = await app.request('/v1/chat/completions', withOrigin(chatRequest(userText('hi')), REFUSED))
    expect(refused.status).toBe(200) // not access control: the key is; the browser withholds the body
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()
    expect(refused.headers.get('access-control-expose-headers')).toBeNull()

    const noOrigin = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(noOrigin.headers.get('access-control-allow-origin')).toBeNull()
    expect(noOrigin.headers.get('vary')).toBeNull()
  })

  it('carries it on errors and on streams too, so a page can read either', async () => {
    const app = appAllowing([ALLOWED])
    const unauthorized = await app.request('/v1/chat/completions', withOrigin(chatRequest(userText('hi'), null), ALLOWED))
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    await errorOf(unauthorized, 401, 'missing_api_key')

    upstream.handle((_call, res) => replySse(res, completionChunks(['fine'])))
    const stream = await app.request('/v1/chat/completions', withOrigin(chatRequest({ ...userText('hi'), stream: true }), ALLOWED))
    expect(stream.headers.get('content-type')).toContain('text/event-stream')
    expect(stream.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(await stream.text()).toContain('[DONE]')
  })

  it('answers every origin with `*` when allowOrigins holds `*`', async () => {
    const res = await appAllowing(['*']).request('/v1/models', withOrigin({ headers: { authorization: 'Bearer x' } }, REFUSED))
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('vary')).toBeNull()
  })
})
