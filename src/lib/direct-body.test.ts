import { request } from 'node:http'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { listen } from '../../test/helpers/gateway-server.js'
import { streamedBody, type ChunkSource } from './direct-body.js'
import { setHeader } from '../reply/reply.js'

const encoder = new TextEncoder()

/**
 * A source of `count` chunks (`chunk 0\n`, ...; endless when count is Infinity) that records how
 * many were read and whether it was cancelled; `cancelled` resolves when it is.
 */
function source(count: number) {
  const seen = { read: 0, cancels: 0 }
  let onCancel!: () => void
  const cancelled = new Promise<void>((resolve) => (onCancel = resolve))
  const chunks: ChunkSource = {
    next: async () => {
      await Promise.resolve()
      if (seen.read >= count || seen.cancels > 0) return { done: true, value: undefined }
      return { done: false, value: encoder.encode(`chunk ${seen.read++}\n`) }
    },
    cancel: async () => {
      seen.cancels++
      onCancel()
    },
    toWebStream: () =>
      new ReadableStream({
        pull: async (controller) => {
          const next = await chunks.next()
          if (next.done) controller.close()
          else controller.enqueue(next.value)
        },
      }),
  }
  return { chunks, seen, cancelled }
}

/** GETs `path` over a real socket: status, headers and the body as text. */
function get(url: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
    })
      .on('error', reject)
      .end()
  })
}

let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

async function serve(app: Hono) {
  const server = await listen(app as unknown as Parameters<typeof listen>[0])
  close = () => server.close()
  return server.url
}

describe('streamedBody served through withDirectBodies', () => {
  it('writes the status, every header the steps set and every chunk to the socket', async () => {
    const { chunks, seen } = source(3)
    const app = new Hono()
    app.use(async (c, next) => {
      setHeader(c, 'x-outer', 'set before')
      await next()
    })
    app.get('/', (c) => {
      setHeader(c, 'content-type', 'text/event-stream')
      return streamedBody(c, chunks)
    })
    const res = await get(`${await serve(app)}/`)
    expect(res.status).toBe(200)
    expect(res.headers).toMatchObject({ 'content-type': 'text/event-stream', 'x-outer': 'set before' })
    expect(res.text).toBe('chunk 0\nchunk 1\nchunk 2\n')
    expect(seen.read).toBe(3)
    expect(Object.keys(res.headers).filter((name) => name.startsWith('x-llava'))).toEqual([])
  })

  it("keeps a header a step sets with hono's c.header() after the handler (hono then copies the response)", async () => {
    const { chunks } = source(2)
    const app = new Hono()
    app.use(async (c, next) => {
      setHeader(c, 'x-outer', 'set before')
      await next()
      c.header('x-after', 'set after the handler')
    })
    app.get('/', (c) => {
      setHeader(c, 'content-type', 'text/event-stream')
      return streamedBody(c, chunks)
    })
    const res = await get(`${await serve(app)}/`)
    expect(res.status).toBe(200)
    expect(res.headers).toMatchObject({ 'content-type': 'text/event-stream', 'x-outer': 'set before', 'x-after': 'set after the handler' })
    expect(res.text).toBe('chunk 0\nchunk 1\n')
    expect(Object.keys(res.headers).filter((name) => name.startsWith('x-llava'))).toEqual([])
  })

  it('cancels the source when a later step replaced the answer with an error', async () => {
    const { chunks, cancelled, seen } = source(3)
    const app = new Hono()
    app.onError((_err, c) => c.json({ error: 'later step failed' }, 500))
    app.use('*', async (_c, next) => {
      await next()
      throw new Error('a step after the handler failed')
    })
    app.get('/', (c) => streamedBody(c, chunks))
    const res = await get(`${await serve(app)}/`)
    expect(res.status).toBe(500)
    expect(JSON.parse(res.text)).toEqual({ error: 'later step failed' })
    expect(Object.keys(res.headers).filter((name) => name.startsWith('x-llava'))).toEqual([])
    await cancelled
    expect(seen.read).toBe(0)
  })

  it('cancels the source when the client leaves mid-stream', async () => {
    const { chunks, cancelled } = source(Number.POSITIVE_INFINITY)
    const app = new Hono()
    app.get('/', (c) => streamedBody(c, chunks))
    const url = await serve(app)
    await new Promise<void>((resolve, reject) => {
      const req = request(`${url}/`, (res) => {
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      })
      req.on('error', () => undefined).on('close', () => undefined)
      req.on('error', reject)
      req.end()
    })
    await cancelled
  })

  it('falls back to a web stream when the app is not served through withDirectBodies', async () => {
    const { chunks } = source(2)
    const app = new Hono()
    app.get('/', (c) => streamedBody(c, chunks))
    const res = await app.request('/')
    expect(await res.text()).toBe('chunk 0\nchunk 1\n')
  })
})
