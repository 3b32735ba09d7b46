import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { createImageFetcher } from '../../src/image-fetch/image-fetcher.js'
import { MEMORY_PER_IMAGE_BYTE, resolveImages, type ImagePartRef } from '../../src/images/resolve-images.js'
import { WeightedSemaphore, type Release } from '../../src/lib/weighted-semaphore.js'
import { gif, jpeg, png, webpVp8l } from '../fixtures/images.js'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { LoopbackNetwork } from '../helpers/loopback-network.js'
import { buildTestApp, chatRequest, MODEL, testConfig } from '../helpers/test-app.js'

// Image URLs fetched from a real loopback image host, checked, and forwarded to the backend as the
// exact bytes under their sniffed type; failures name the part they came from.

let upstream: FakeUpstream
let server: ImageServer

// The image server's built-in routes serve these very bytes (see test/helpers/image-server.ts).
const PNG = png(64, 48)
const JPEG = jpeg(64, 48)
const WEBP = webpVp8l(64, 48)
const GIF = gif(64, 48)
const BLUE_PNG = png(40, 30, [0, 0, 255])

const dataUrl = (bytes: Buffer, mime: string) => `data:${mime};base64,${bytes.toString('base64')}`
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const image = (url: string) => ({ type: 'image_url', image_url: { url } })
const text = (t: string) => ({ type: 'text', text: t })
const ask = (...images: string[]) =>
  chatRequest({ model: MODEL, messages: [{ role: 'user', content: [...images.map(image), text('What is in these?')] }] })

type SentMessage = { content: string | Array<{ type: string; image_url?: { url: string } }> }

/** Every image URL the backend received in call `i`, in order. */
function forwardedImages(i = 0): string[] {
  const messages = upstream.calls[i]?.body['messages'] as SentMessage[] | undefined
  if (!messages) throw new Error(`the backend got no call #${i}`)
  return messages.flatMap((m) => (Array.isArray(m.content) ? m.content.flatMap((p) => (p.image_url ? [p.image_url.url] : [])) : []))
}

const appWith = (images: Record<string, unknown> = {}, backend: Record<string, unknown> = {}) => {
  const config = testConfig(upstream.baseUrl)
  const main = { ...config.backends['main'], ...backend }
  return buildTestApp({ ...config, backends: { main }, images: { ...imageConfig(server), ...images } })
}

/** Holds every caller until `count` of them have arrived; then all go on together. */
function barrier(count: number) {
  let arrived = 0
  let open = () => {}
  const opened = new Promise<void>((resolve) => (open = resolve))
  return () => {
    if (++arrived >= count) open()
    return opened
  }
}

const send = (res: ServerResponse, bytes: Buffer) => {
  res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length }).end(bytes)
}

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  server = await ImageServer.start()
})
afterAll(async () => {
  await server.close()
  await upstream.close()
})
afterEach(() => {
  upstream.calls.length = 0
  server.hits.clear()
})

describe('formats', () => {
  it.each([
    ['PNG', '/png', PNG, 'image/png'],
    ['JPEG', '/jpeg', JPEG, 'image/jpeg'],
    ['WebP', '/webp', WEBP, 'image/webp'],
    ['GIF', '/gif', GIF, 'image/gif'],
  ])('a %s from the image host reaches the backend as a data URL of its exact bytes', async (_name, path, bytes, mime) => {
    const { app } = appWith()
    const res = await app.request('/v1/chat/completions', ask(server.url(path)))
    expect(res.status).toBe(200)
    expect(forwardedImages()).toEqual([dataUrl(bytes, mime)])
    expect(server.hits.get(path)).toBe(1)
  })

  it('types the bytes by their magic number, not by the Content-Type the host declared', async () => {
    server.image('/lying.jpg', PNG, 'image/jpeg')
    const { app } = appWith()
    const res = await app.request('/v1/chat/completions', ask(server.url('/lying.jpg')))
    expect(res.status).toBe(200)
    expect(forwardedImages()).toEqual([dataUrl(PNG, 'image/png')])
  })
})

describe('identity', () => {
  it('forwards a URL image and the same bytes sent as a data URL identically', async () => {
    const { app } = appWith()
    // Declared as JPEG: the declared type of a data URL is not trusted either.
    const res = await app.request('/v1/chat/completions', ask(server.url('/png'), dataUrl(PNG, 'image/jpeg')))
    expect(res.status).toBe(200)
    const [fromUrl, fromData] = forwardedImages()
    expect(fromUrl).toBe(dataUrl(PNG, 'image/png'))
    expect(fromData).toBe(fromUrl)
  })

  it('resolveImages gives a URL image and its data URL the same identity, and holds their bytes until released', async () => {
    const { config } = loadConfig({}, { ...testConfig(upstream.baseUrl), images: imageConfig(server) })
    const limits = config.images
    const fetcher = createImageFetcher(limits, new LoopbackNetwork())
    const bytes = new WeightedSemaphore(limits.maxInFlightBytes)
    const held: Release[] = []
    const parts: ImagePartRef[] = [
      { messageIndex: 0, partIndex: 0, url: server.url('/png') },
      { messageIndex: 0, partIndex: 1, url: dataUrl(PNG, 'image/png') },
      { messageIndex: 2, partIndex: 0, url: server.url('/jpeg') },
      { messageIndex: 2, partIndex: 1, url: server.url('/png') }, // same URL again: resolved once
    ]
    try {
      const resolved = await resolveImages(parts, { limits, fetcher, bytes, signal: () => new AbortController().signal, held })
      const [fromUrl, fromData, other, again] = resolved.map((r) => r.identity)
      const digest = (identity: typeof fromUrl) => identity?.sha256()
      expect({ sha256: await digest(fromUrl), mime: fromUrl?.mime, width: fromUrl?.width, height: fromUrl?.height }).toEqual({
        sha256: sha256(PNG),
        mime: 'image/png',
        width: 64,
        height: 48,
      })
      expect(await digest(fromData)).toBe(await digest(fromUrl))
      expect([fromUrl?.source, fromData?.source]).toEqual(['url', 'data'])
      expect(fromData?.byteLength).toBe(PNG.length)
      expect(fromData?.bytes).toBeUndefined() // a data URL is never held decoded
      expect(fromData?.base64).toBe(PNG.toString('base64'))
      expect({ sha256: await digest(other), mime: other?.mime, width: other?.width, height: other?.height }).toEqual({
        sha256: sha256(JPEG),
        mime: 'image/jpeg',
        width: 64,
        height: 48,
      })
      expect(again).toBe(fromUrl)
      expect(resolved.map((r) => [r.messageIndex, r.partIndex])).toEqual([
        [0, 0],
        [0, 1],
        [2, 0],
        [2, 1],
      ])
      expect(server.hits.get('/png')).toBe(1)
      // Three distinct images: three reservations, each of its size, held until the caller releases them.
      expect(held).toHaveLength(3)
      expect(bytes.inUse).toBe(MEMORY_PER_IMAGE_BYTE * (2 * PNG.length + JPEG.length)) // each image charged its memory footprint
      for (const release of held) release()
      expect(bytes.inUse).toBe(0)
    } finally {
      await fetcher.close()
    }
  })
})

describe('resolveImages: stopping downloads', () => {
  /** A route that answers nothing and reports when the gateway drops its connection. */
  const hanging = (path: string) => {
    let arrived = () => {}
    let dropped = () => {}
    const reached = new Promise<void>((resolve) => (arrived = resolve))
    const closed = new Promise<void>((resolve) => (dropped = resolve))
    server.route(path, (req, res) => {
      res.on('close', () => dropped())
      req.resume()
      arrived()
    })
    return { reached, closed }
  }
  const resolveWith = async (parts: ImagePartRef[], signal: AbortSignal) => {
    const { config } = loadConfig({}, { ...testConfig(upstream.baseUrl), images: imageConfig(server) })
    const fetcher = createImageFetcher(config.images, new LoopbackNetwork())
    const held: Release[] = []
    const bytes = new WeightedSemaphore(config.images.maxInFlightBytes)
    try {
      return await resolveImages(parts, { limits: config.images, fetcher, bytes, signal: () => signal, held })
    } finally {
      for (const release of held) release()
      await fetcher.close()
    }
  }

  it('drops the other downloads once one image fails, and reports the failure', async () => {
    const slow = hanging('/never')
    // Fails only once the other download is under way, so there is one to drop.
    server.route('/late-404', (_req, res) => void slow.reached.then(() => res.writeHead(404).end()))
    const parts: ImagePartRef[] = [
      { messageIndex: 0, partIndex: 0, url: server.url('/never') },
      { messageIndex: 0, partIndex: 1, url: server.url('/late-404') },
    ]
    await expect(resolveWith(parts, new AbortController().signal)).rejects.toMatchObject({
      code: 'image_fetch_failed',
      param: 'messages[0].content[1].image_url.url',
    })
    await slow.closed
  })

  it('drops a download when the client leaves', async () => {
    const slow = hanging('/forever')
    const client = new AbortController()
    const resolving = resolveWith([{ messageIndex: 0, partIndex: 0, url: server.url('/forever') }], client.signal)
    const outcome = expect(resolving).rejects.toBeDefined()
    await slow.reached
    client.abort()
    await outcome
    await slow.closed
  })
})

describe('redirects', () => {
  it('follows a chain of 3 redirects (the default cap), relative ones too', async () => {
    server
      .redirect('/hop1', server.url('/hop2'), 301)
      .redirect('/hop2', '/hop3', 307) // relative to the current hop
      .redirect('/hop3', server.url('/hop-target'), 308)
      .image('/hop-target', BLUE_PNG, 'image/png')
    const { app } = appWith()
    const res = await app.request('/v1/chat/completions', ask(server.url('/hop1')))
    expect(res.status).toBe(200)
    expect(forwardedImages()).toEqual([dataUrl(BLUE_PNG, 'image/png')])
    expect(['/hop1', '/hop2', '/hop3', '/hop-target'].map((p) => server.hits.get(p))).toEqual([1, 1, 1, 1])
  })

  it('refuses a 4th redirect with image_fetch_failed naming the limit, without following it', async () => {
    server
      .redirect('/over1', '/over2')
      .redirect('/over2', '/over3', 303)
      .redirect('/over3', '/over4')
      .redirect('/over4', '/over-target')
      .image('/over-target', BLUE_PNG, 'image/png')
    const { app } = appWith()
    const res = await app.request('/v1/chat/completions', ask(server.url('/over1')))
    const error = await errorOf(res, 400, 'image_fetch_failed')
    expect(error.message).toContain('more than 3 redirects')
    expect(error.message).toContain('images.fetch.maxRedirects')
    expect(server.hits.get('/over4')).toBe(1)
    expect(server.hits.get('/over-target')).toBeUndefined()
    expect(upstream.calls).toHaveLength(0)
  })

  it('drops each redirect body without an uncaught error (which would take the gateway down)', async () => {
    server.redirect('/drop1', '/drop2').redirect('/drop2', '/png')
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown) => uncaught.push(err)
    process.on('uncaughtException', onUncaught)
    try {
      const { app } = appWith()
      expect((await app.request('/v1/chat/completions', ask(server.url('/drop1')))).status).toBe(200)
      // undici reports a dropped body's abort from a setImmediate: let two loop turns pass (no time needed).
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('uncaughtException', onUncaught)
    }
    expect(uncaught).toEqual([])
  })

  it('honours a lower maxRedirects', async () => {
    server.redirect('/once', '/png')
    const { app } = appWith({ fetch: { ...imageConfig(server).fetch, maxRedirects: 0 } })
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/once'))), 400, 'image_fetch_failed')
    expect(error.message).toContain('more than 0 redirects')
    expect(server.hits.get('/png')).toBeUndefined()
  })
})

describe('fetching once, and in parallel', () => {
  it('fetches the same URL once however often a request names it', async () => {
    const { app } = appWith()
    const body = {
      model: MODEL,
      messages: [
        { role: 'user', content: [image(server.url('/jpeg')), image(server.url('/jpeg')), text('Same?')] },
        { role: 'assistant', content: 'Yes.' },
        { role: 'user', content: [image(server.url('/jpeg')), text('And now?')] },
      ],
    }
    const res = await app.request('/v1/chat/completions', chatRequest(body))
    expect(res.status).toBe(200)
    expect(server.hits.get('/jpeg')).toBe(1)
    expect(forwardedImages()).toEqual(Array.from({ length: 3 }, () => dataUrl(JPEG, 'image/jpeg')))
  })

  it('fetches distinct URLs concurrently: each route answers only once both requests are in', async () => {
    const bothIn = barrier(2)
    server
      .route('/pair-a', (_req, res) => void bothIn().then(() => send(res, PNG)))
      .route('/pair-b', (_req, res) => void bothIn().then(() => send(res, BLUE_PNG)))
    const { app } = appWith({ fetch: { ...imageConfig(server).fetch, concurrencyPerRequest: 2 } })
    const res = await app.request('/v1/chat/completions', ask(server.url('/pair-a'), server.url('/pair-b')))
    expect(res.status).toBe(200)
    expect(forwardedImages()).toEqual([dataUrl(PNG, 'image/png'), dataUrl(BLUE_PNG, 'image/png')])
  })

  it('with concurrencyPerRequest 1, does not ask for the second URL while the first is in flight', async () => {
    // /solo-a answers only once /solo-b has been asked for. Two at a time that is at once; one at a
    // time it never happens: the first download runs into the (short) total timeout and the second
    // is never requested.
    const trap = () => {
      const secondIn = barrier(2)
      server
        .route('/solo-a', (_req, res) => void secondIn().then(() => send(res, PNG)))
        .route('/solo-b', (_req, res) => {
          void secondIn()
          send(res, BLUE_PNG)
        })
    }
    const fetch = { ...imageConfig(server).fetch, totalTimeoutMs: 250 }
    trap()
    const parallel = await appWith({ fetch: { ...fetch, concurrencyPerRequest: 2 } }).app.request(
      '/v1/chat/completions',
      ask(server.url('/solo-a'), server.url('/solo-b')),
    )
    expect(parallel.status).toBe(200) // the trap springs only for one-at-a-time fetching
    server.hits.clear()
    trap()
    const res = await appWith({ fetch: { ...fetch, concurrencyPerRequest: 1 } }).app.request(
      '/v1/chat/completions',
      ask(server.url('/solo-a'), server.url('/solo-b')),
    )
    const error = await errorOf(res, 400, 'image_fetch_timeout')
    expect(error.param).toBe('messages[0].content[0].image_url.url')
    expect(server.hits.get('/solo-a')).toBe(1)
    expect(server.hits.get('/solo-b')).toBeUndefined()
  })

  it('with concurrencyPerRequest 1, still fetches every image, in order', async () => {
    const arrivals: string[] = []
    server
      .route('/seq-a', (_req, res) => {
        arrivals.push('a')
        send(res, PNG)
      })
      .route('/seq-b', (_req, res) => {
        arrivals.push('b')
        send(res, BLUE_PNG)
      })
    const { app } = appWith({ fetch: { ...imageConfig(server).fetch, concurrencyPerRequest: 1 } })
    const res = await app.request('/v1/chat/completions', ask(server.url('/seq-a'), server.url('/seq-b')))
    expect(res.status).toBe(200)
    expect(arrivals).toEqual(['a', 'b'])
    expect(forwardedImages()).toEqual([dataUrl(PNG, 'image/png'), dataUrl(BLUE_PNG, 'image/png')])
  })
})

describe('failures', () => {
  it('answers 400 image_fetch_failed when the image host answers 404', async () => {
    const { app } = appWith()
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/missing.png'))), 400, 'image_fetch_failed')
    expect(error.type).toBe('invalid_request_error')
    expect(error.message).toContain('HTTP 404')
    expect(upstream.calls).toHaveLength(0)
  })

  it('answers image_fetch_failed for a redirect without a Location header', async () => {
    server.route('/lost', (_req, res) => res.writeHead(302).end())
    const { app } = appWith()
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/lost'))), 400, 'image_fetch_failed')
    expect(error.message).toContain('without a Location header')
  })

  it('names the message and part in the error message and the URL field in param', async () => {
    const { app } = appWith()
    const body = {
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [image(server.url('/png')), image(server.url('/missing.png')), text('Compare.')] },
      ],
    }
    const error = await errorOf(await app.request('/v1/chat/completions', chatRequest(body)), 400, 'image_fetch_failed')
    expect(error.param).toBe('messages[1].content[1].image_url.url')
    expect(error.message).toContain('messages[1].content[1]')
    expect(upstream.calls).toHaveLength(0)
  })

  it('answers too_many_images past maxImagesPerRequest, pointing at the first extra part, fetching nothing', async () => {
    const { app } = appWith({ maxImagesPerRequest: 2 })
    const body = {
      model: MODEL,
      messages: [
        { role: 'user', content: [image(server.url('/png')), image(server.url('/jpeg')), text('Two.')] },
        { role: 'assistant', content: 'Seen.' },
        { role: 'user', content: [image(server.url('/webp')), image(server.url('/gif')), text('Two more.')] },
      ],
    }
    const error = await errorOf(await app.request('/v1/chat/completions', chatRequest(body)), 400, 'too_many_images')
    expect(error.param).toBe('messages[2].content[0].image_url.url')
    expect(error.message).toContain('4 images')
    expect(error.message).toContain('images.maxImagesPerRequest')
    expect(server.hits.size).toBe(0)
    expect(upstream.calls).toHaveLength(0)
  })

  it('counts the same URL twice as two images against maxImagesPerRequest', async () => {
    const { app } = appWith({ maxImagesPerRequest: 1 })
    const res = await app.request('/v1/chat/completions', ask(server.url('/png'), server.url('/png')))
    const error = await errorOf(res, 400, 'too_many_images')
    expect(error.param).toBe('messages[0].content[1].image_url.url')
  })
})

describe('backends', () => {
  it("with imageForwarding 'url', sends the URL it checked for http images, and still fetches and checks them", async () => {
    const { app } = appWith({}, { imageForwarding: 'url' })
    const res = await app.request('/v1/chat/completions', ask(server.url('/png'), dataUrl(PNG, 'image/jpeg')))
    expect(res.status).toBe(200)
    // The data URL is still sent as the canonical, sniffed one.
    expect(forwardedImages()).toEqual([new URL(server.url('/png')).href, dataUrl(PNG, 'image/png')])
    expect(server.hits.get('/png')).toBe(1)

    server.image('/not-an-image', Buffer.from('<html>nope</html>'), 'image/png')
    const refused = await app.request('/v1/chat/completions', ask(server.url('/not-an-image')))
    await errorOf(refused, 400, 'image_unsupported_format')
    expect(upstream.calls).toHaveLength(1) // only the first request reached the backend
  })

  it("with imageForwarding 'url', never sends the client's own string, which another parser may read as another host", async () => {
    const { app } = appWith({}, { imageForwarding: 'url' })
    // WHATWG reads the host as the image host and the backslash as a path separator; Python's
    // urllib (vLLM) reads "evil.test" as the host. The gateway checked the first: it sends that.
    const { port } = new URL(server.url('/png'))
    const tricky = server.url('/png').replace(`:${port}/png`, `:${port}\\@evil.test:${port}/png`)
    server.image(new URL(tricky).pathname, PNG, 'image/png')
    const res = await app.request('/v1/chat/completions', ask(tricky))
    expect(res.status).toBe(200)
    const [sent] = forwardedImages()
    expect(sent).toBe(new URL(tricky).href)
    expect(sent).not.toContain('\\')
    expect(new URL(sent!).hostname).toBe(new URL(server.url('/png')).hostname)
  })

  it('refuses a GIF for an ollama backend with image_unsupported_format', async () => {
    const { app } = appWith({}, { kind: 'ollama' })
    const res = await app.request('/v1/chat/completions', ask(server.url('/png'), server.url('/gif')))
    const error = await errorOf(res, 400, 'image_unsupported_format')
    expect(error.param).toBe('messages[0].content[1].image_url.url')
    expect(error.message).toMatch(/GIF/)
    expect(error.message).toMatch(/Ollama/)
    expect(upstream.calls).toHaveLength(0)
  })
})
