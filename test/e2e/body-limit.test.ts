import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { buildTestApp, MODEL, TEST_KEY, testConfig } from '../helpers/test-app.js'

// The body limit over a real socket, where the gateway reads the Node request directly.

const LIMIT = 4096
let upstream: FakeUpstream
let gateway: Awaited<ReturnType<typeof listen>>
beforeAll(async () => {
  upstream = await FakeUpstream.start()
  gateway = await listen(buildTestApp({ ...testConfig(upstream.baseUrl), server: { bodyLimitBytes: LIMIT } }).app)
})
afterAll(async () => {
  await gateway.close()
  await upstream.close()
})

/** POSTs `chunks` one write at a time; chunked transfer unless a content length is given. */
function post(chunks: string[], contentLength?: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${TEST_KEY}`,
        ...(contentLength === undefined ? {} : { 'content-length': String(contentLength) }),
      },
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    for (const chunk of chunks) req.write(chunk)
    req.end()
  })
}

const message = (text: string) => JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: text }] })

describe('body limit on a real socket', () => {
  it('answers 413 naming the limit for a chunked body that grows past it', async () => {
    const big = message('x'.repeat(LIMIT * 4))
    const res = await post([big.slice(0, 1000), big.slice(1000, 3000), big.slice(3000)])
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'request_too_large' } })
    expect(res.body).toContain(`${LIMIT} bytes`)
  })

  it('answers 413 to a client still sending, without waiting for the rest of its body', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      })
      req.on('response', (r) => {
        let body = ''
        r.on('data', (d: Buffer) => (body += d.toString()))
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }))
        req.destroy() // the rest of the body is never sent
      })
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)))
      req.write(message('x'.repeat(LIMIT * 2)).slice(0, LIMIT + 100)) // past the limit, and not the end
    })
    expect(res.status).toBe(413)
  })

  it('answers 413 at once from a Content-Length over the limit', async () => {
    const big = message('x'.repeat(LIMIT * 2))
    const res = await post([big], Buffer.byteLength(big))
    expect(res.status).toBe(413)
  })

  it('reads a body under the limit, whether chunked or not', async () => {
    const small = message('hello')
    expect((await post([small.slice(0, 10), small.slice(10)])).status).toBe(200)
    expect((await post([small], Buffer.byteLength(small))).status).toBe(200)
  })
})
