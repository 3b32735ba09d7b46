import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { appendHeader, reply, replyJson, setHeader } from './reply.js'

describe('reply', () => {
  it('builds a response with the headers the steps set, its own over them', async () => {
    const app = new Hono()
    app.use(async (c, next) => {
      setHeader(c, 'x-step', 'one')
      setHeader(c, 'content-type', 'text/plain')
      await next()
    })
    app.get('/', (c) => reply(c, 'hi', 201, { 'content-type': 'text/html' }))
    const res = await app.request('/')
    expect(res.status).toBe(201)
    expect(res.headers.get('x-step')).toBe('one')
    expect(res.headers.get('content-type')).toBe('text/html')
    expect(await res.text()).toBe('hi')
  })

  it('replyJson sends JSON with the status asked for', async () => {
    const app = new Hono()
    app.get('/', (c) => replyJson(c, { ok: true }, 429))
    const res = await app.request('/')
    expect(res.status).toBe(429)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({ ok: true })
  })

  it('appendHeader lists values in the order they were added', async () => {
    const app = new Hono()
    app.get('/', (c) => {
      appendHeader(c, 'vary', 'Origin')
      appendHeader(c, 'vary', 'Access-Control-Request-Headers')
      return reply(c, null, 204)
    })
    expect((await app.request('/')).headers.get('vary')).toBe('Origin, Access-Control-Request-Headers')
  })
})
