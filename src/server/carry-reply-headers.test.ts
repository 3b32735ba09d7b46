import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { replyJson, setHeader } from '../reply/reply.js'
import { carryReplyHeaders } from './carry-reply-headers.js'

describe('carryReplyHeaders', () => {
  it("puts the steps' headers on a response hono built, keeping the response's own", async () => {
    const app = new Hono()
    app.use('*', carryReplyHeaders(), async (c, next) => {
      setHeader(c, 'x-request-id', 'req-1')
      setHeader(c, 'content-type', 'text/plain')
      await next()
    })
    app.get('/', (c) => c.json({ from: 'hono' }))
    const res = await app.request('/')
    expect(res.headers.get('x-request-id')).toBe('req-1')
    expect(res.headers.get('content-type')).toBe('application/json')
  })

  it("leaves a replied response as it is: the steps' headers are on it already", async () => {
    const app = new Hono()
    app.use('*', carryReplyHeaders(), async (c, next) => {
      setHeader(c, 'x-request-id', 'req-2')
      await next()
      setHeader(c, 'x-too-late', 'after the answer was built')
    })
    app.get('/', (c) => replyJson(c, {}))
    const res = await app.request('/')
    expect(res.headers.get('x-request-id')).toBe('req-2')
    expect(res.headers.get('x-too-late')).toBeNull()
  })
})
