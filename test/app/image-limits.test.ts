import type { ServerResponse } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { loadConfig } from '../../src/config/load.js'
import { createImageFetcher } from '../../src/image-fetch/image-fetcher.js'
import { bmp, png, pngHeader } from '../fixtures/images.js'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { LoopbackNetwork } from '../helpers/loopback-network.js'
import { probedFetcher } from '../helpers/probed-fetcher.js'
import { buildTestApp, chatRequest, MODEL, testConfig } from '../helpers/test-app.js'

// Size, time and shape limits on images: slow, silent, endless and oversized downloads, bytes that
// are not a supported image, dimensions out of range, bad data URLs, and the gateway-wide budget
// of image bytes in flight. Timeouts are configured short (≤ 300 ms) instead of waited for.

let upstream: FakeUpstream
let server: ImageServer

const KiB = 1024
const PNG = png(64, 48)
const OTHER_PNG = png(64, 48, [0, 128, 0])
const PARAM = 'messages[0].content[0].image_url.url'

const dataUrl = (bytes: Buffer, mime: string) => `data:${mime};base64,${bytes.toString('base64')}`
const image = (url: string) => ({ type: 'image_url', image_url: { url } })
const ask = (...urls: string[]) =>
  chatRequest({ model: MODEL, messages: [{ role: 'user', content: [...urls.map(image), { type: 'text', text: 'What is it?' }] }] })

const configWith = (images: Record<string, unknown> = {}, fetch: Record<string, unknown> = {}): ConfigInput => ({
  ...testConfig(upstream.baseUrl),
  images: { ...images, ...imageConfig(server, fetch) },
})

const appWith = (images: Record<string, unknown> = {}, fetch: Record<string, unknown> = {}) => buildTestApp(configWith(images, fetch))

/**
 * The app with its image fetcher wrapped in a probe that reports byte reservations. The fetcher
 * is built exactly as buildTestApp builds it, on a LoopbackNetwork of its own.
 */
function probedApp(images: Record<string, unknown>, fetch: Record<string, unknown> = {}) {
  const config = configWith(images, fetch)
  const network = new LoopbackNetwork()
  const probe = probedFetcher(createImageFetcher(loadConfig({}, config).config.images, network))
  const { app } = buildTestApp(config, { imageFetcher: probe.fetcher })
  return { app, network, probe }
}

/** Resolves when the server side of a response closes, saying whether the route had finished it. */
const closeOf = (res: ServerResponse) =>
  new Promise<{ finished: boolean }>((resolve) => res.on('close', () => resolve({ finished: res.writableFinished })))

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

describe('time', () => {
  it('gives up on a body that trickles in, at the total timeout (not the idle one)', async () => {
    let closed!: Promise<{ finished: boolean }>
    server.route('/trickle', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' })
      const tick = setInterval(() => res.write(PNG.subarray(0, 1)), 100) // each byte well within the idle timeout
      closed = closeOf(res)
      res.on('close', () => clearInterval(tick))
    })
    const { app } = appWith({}, { totalTimeoutMs: 250 })
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/trickle'))), 400, 'image_fetch_timeout')
    expect(error.param).toBe(PARAM)
    expect(error.message).toContain('messages[0].content[0]')
    expect(error.message).toContain('images.fetch.totalTimeoutMs is 250 ms')
    expect(await closed).toEqual({ finished: false }) // the gateway hung up; the route never ended
    expect(upstream.calls).toHaveLength(0)
  })

  it('gives up on a host that sends headers and never a body byte', async () => {
    server.route('/silent-body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 1000 }).flushHeaders()
    })
    const { app } = appWith({}, { totalTimeoutMs: 250 })
    await errorOf(await app.request('/v1/chat/completions', ask(server.url('/silent-body'))), 400, 'image_fetch_timeout')
  })

  it('gives up on a host that never sends headers: the total timeout covers the wait for them', async () => {
    // (Not headersTimeoutMs: undici runs its headers timer at ~1 s resolution, so a short one is not precise.)
    server.route('/silent', () => undefined)
    const { app } = appWith({}, { totalTimeoutMs: 250 })
    await errorOf(await app.request('/v1/chat/completions', ask(server.url('/silent'))), 400, 'image_fetch_timeout')
  })
})

describe('size', () => {
  it('stops reading an endless body at maxBytesPerImage and hangs up on the host', async () => {
    let closed!: Promise<{ finished: boolean }>
    let written = 0
    server.route('/endless', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' }) // chunked: no length to refuse up front
      closed = closeOf(res)
      const chunk = Buffer.concat([PNG, Buffer.alloc(8 * KiB - PNG.length, 0x41)])
      const pump = () => {
        while (!res.destroyed) {
          written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
      }
      pump()
    })
    const { app } = appWith({ maxBytesPerImage: 64 * KiB })
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/endless'))), 413, 'image_too_large')
    expect(error.param).toBe(PARAM)
    expect(error.message).toContain(`${64 * KiB} bytes (images.maxBytesPerImage)`)
    expect(await closed).toEqual({ finished: false }) // closed by the gateway while the route was still writing
    expect(written).toBeGreaterThan(64 * KiB)
  })

  it('refuses a declared Content-Length over the cap without reading or reserving anything', async () => {
    let closed!: Promise<{ finished: boolean }>
    server.route('/declared-huge', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 1024 * KiB }).flushHeaders() // and no body at all
      closed = closeOf(res)
    })
    // Were the body read, this would end in the 300 ms timeout instead.
    const { app, probe } = probedApp({ maxBytesPerImage: 64 * KiB }, { totalTimeoutMs: 300 })
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/declared-huge'))), 413, 'image_too_large')
    expect(error.message).toContain(`${1024 * KiB} bytes`)
    expect(error.message).toContain('images.maxBytesPerImage')
    expect(probe.events).toEqual([])
    expect(await closed).toEqual({ finished: false })
  })

  it('accepts a streamed image of exactly maxBytesPerImage and refuses one byte less of allowance', async () => {
    server.route('/chunked-png', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' })
      res.write(PNG.subarray(0, 20))
      res.end(PNG.subarray(20))
    })
    const exact = await appWith({ maxBytesPerImage: PNG.length }).app.request('/v1/chat/completions', ask(server.url('/chunked-png')))
    expect(exact.status).toBe(200)
    const short = await appWith({ maxBytesPerImage: PNG.length - 1 }).app.request('/v1/chat/completions', ask(server.url('/chunked-png')))
    await errorOf(short, 413, 'image_too_large')
  })

  it('refuses a data URL over maxBytesPerImage with 413', async () => {
    const big = Buffer.concat([PNG, Buffer.alloc(70 * KiB)])
    const { app } = appWith({ maxBytesPerImage: 64 * KiB })
    const error = await errorOf(await app.request('/v1/chat/completions', ask(dataUrl(big, 'image/png'))), 413, 'image_too_large')
    expect(error.param).toBe(PARAM)
    expect(error.message).toContain(`${big.length} bytes`)
    expect(error.message).toContain(`${64 * KiB} bytes (images.maxBytesPerImage)`)
  })
})

describe('format', () => {
  it.each([
    [
      'text served as image/png (wrong magic number)',
      Buffer.from('this is plainly not a PNG, whatever the header says'),
      'image/png',
      /not JPEG, PNG, WebP or GIF/,
    ],
    [
      'an SVG',
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48"/></svg>'),
      'image/svg+xml',
      /not JPEG, PNG, WebP or GIF/,
    ],
    ['a BMP', bmp(64, 48), 'image/bmp', /not JPEG, PNG, WebP or GIF/],
    ['a PNG cut off inside its header', PNG.subarray(0, 20), 'image/png', /damaged header/],
  ])('refuses %s with image_unsupported_format', async (_name, bytes, contentType, message) => {
    server.image('/odd', bytes, contentType)
    const { app } = appWith()
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/odd'))), 400, 'image_unsupported_format')
    expect(error.param).toBe(PARAM)
    expect(error.message).toMatch(message)
    expect(upstream.calls).toHaveLength(0)
  })
})

describe('dimensions', () => {
  it.each([
    ['a 1x1 PNG', png(1, 1), '1x1', 'images.minDimension'],
    ['a PNG header declaring 100000x100000 (no pixel data at all)', pngHeader(100_000, 100_000), '100000x100000', 'images.maxDimension'],
    ['a PNG header declaring 10000x10000', pngHeader(10_000, 10_000), '10000x10000', 'images.maxPixels'],
  ])('refuses %s with image_dimensions_out_of_range naming the limit', async (_name, bytes, size, limit) => {
    server.image('/sized', bytes, 'image/png')
    const { app } = appWith()
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/sized'))), 400, 'image_dimensions_out_of_range')
    expect(error.param).toBe(PARAM)
    expect(error.message).toContain(size)
    expect(error.message).toContain(limit)
  })

  it('applies the same checks to data URLs, and honours a configured minDimension', async () => {
    const { app } = appWith({ minDimension: 50 })
    const error = await errorOf(
      await app.request('/v1/chat/completions', ask(dataUrl(PNG, 'image/png'))),
      400,
      'image_dimensions_out_of_range',
    )
    expect(error.message).toContain('64x48')
    expect(error.message).toContain('at least 50px')
  })
})

describe('data URLs', () => {
  it('names the part where the client put it, though the model moves images ahead of text', async () => {
    const { app } = appWith()
    const body = chatRequest({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'Compare.' }, image(dataUrl(PNG, 'image/png')), image('data:image/png;base64,@@@@')],
        },
      ],
    })
    // Sent on as [image, image, text]: the bad image is second there, third as the client sent it.
    const error = await errorOf(await app.request('/v1/chat/completions', body), 400, 'invalid_image_data')
    expect(error.param).toBe('messages[0].content[2].image_url.url')
    expect(error.message).toContain('messages[0].content[2]')
    expect(upstream.calls).toHaveLength(0)
  })

  it.each([
    ['invalid base64', 'data:image/png;base64,iVBORw0K!!!*', /invalid base64/],
    ['no media type', `data:;base64,${PNG.toString('base64')}`, /missing media type/],
    ['not base64-encoded', 'data:image/png,%89PNG', /not base64-encoded/],
  ])('refuses %s with invalid_image_data naming the part', async (_name, url, reason) => {
    const { app } = appWith()
    // The bad one second, so the error has to point at the right part.
    const error = await errorOf(await app.request('/v1/chat/completions', ask(dataUrl(PNG, 'image/png'), url)), 400, 'invalid_image_data')
    expect(error.param).toBe('messages[0].content[1].image_url.url')
    expect(error.message).toContain('messages[0].content[1]')
    expect(error.message).toMatch(reason)
    expect(upstream.calls).toHaveLength(0)
  })
})

describe('image bytes in flight, gateway-wide', () => {
  /** A route that sends its headers (with Content-Length) and half the image, then holds until released. */
  function heldRoute(path: string, bytes: Buffer) {
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    server.route(path, (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length })
      res.write(bytes.subarray(0, 10))
      void released.then(() => res.end(bytes.subarray(10)))
    })
    return release
  }

  it('sheds a second request with 503 images_busy and Retry-After while the first holds the budget', async () => {
    const release = heldRoute('/held', PNG)
    server.image('/other', OTHER_PNG, 'image/png')
    const { app, probe } = probedApp({ maxInFlightBytes: PNG.length, maxBytesPerImage: PNG.length, inFlightWaitMs: 0 })
    const first = app.request('/v1/chat/completions', ask(server.url('/held')))
    await probe.next('granted', '/held') // headers in: the first now holds every byte of the budget
    const second = await app.request('/v1/chat/completions', ask(server.url('/other')))
    expect(second.status).toBe(503)
    expect(second.headers.get('retry-after')).toBe('1')
    const error = await errorOf(second, 503, 'images_busy')
    expect(error.type).toBe('server_error')
    expect(error.param).toBe(PARAM)
    release()
    expect((await first).status).toBe(200)
    // Both reservations are back: with nothing waiting allowed, a new request gets the whole budget.
    expect((await app.request('/v1/chat/completions', ask(server.url('/other')))).status).toBe(200)
    expect(probe.events.filter((e) => e.kind === 'granted').map((e) => e.url)).toEqual([server.url('/held'), server.url('/other')])
    expect(probe.events.filter((e) => e.kind === 'refused').map((e) => e.url)).toEqual([server.url('/other')])
  })

  it('sheds a data URL too when the budget is held', async () => {
    const release = heldRoute('/held-for-data', PNG)
    const { app, probe } = probedApp({ maxInFlightBytes: PNG.length, maxBytesPerImage: PNG.length, inFlightWaitMs: 0 })
    const first = app.request('/v1/chat/completions', ask(server.url('/held-for-data')))
    await probe.next('granted', '/held-for-data')
    await errorOf(await app.request('/v1/chat/completions', ask(dataUrl(OTHER_PNG, 'image/png'))), 503, 'images_busy')
    release()
    expect((await first).status).toBe(200)
  })

  it('lets a second request wait for the budget within inFlightWaitMs, and go on once the first is done', async () => {
    const release = heldRoute('/held-long', PNG)
    server.image('/waiter', OTHER_PNG, 'image/png')
    const { app, probe } = probedApp({ maxInFlightBytes: PNG.length, maxBytesPerImage: PNG.length, inFlightWaitMs: 10_000 })
    const first = app.request('/v1/chat/completions', ask(server.url('/held-long')))
    await probe.next('granted', '/held-long')
    const second = app.request('/v1/chat/completions', ask(server.url('/waiter')))
    await probe.next('asked', '/waiter')
    // Read in the same microtask run as the grant: how many backend calls had completed by then.
    const backendCallsAtGrant = probe.next('granted', '/waiter').then(() => upstream.calls.length)
    expect(probe.events.some((e) => e.kind === 'granted' && e.url.endsWith('/waiter'))).toBe(false) // queued, not refused
    release()
    const [a, b] = await Promise.all([first, second])
    expect([a.status, b.status]).toEqual([200, 200])
    expect(probe.events.map((e) => `${e.kind} ${new URL(e.url).pathname}`)).toEqual([
      'asked /held-long',
      'granted /held-long',
      'asked /waiter',
      'granted /waiter',
    ])
    // The first request's bytes were held until its backend call had come back, not just downloaded.
    expect(await backendCallsAtGrant).toBe(1)
    const sent = upstream.calls.map((c) => JSON.stringify(c.body['messages']))
    expect(sent[0]).toContain(PNG.toString('base64'))
    expect(sent[1]).toContain(OTHER_PNG.toString('base64'))
  })
})

describe('images and the context window', () => {
  it('refuses images whose tokens alone pass the context window before fetching any', async () => {
    const { app } = buildTestApp({
      ...testConfig(upstream.baseUrl),
      models: [{ id: MODEL, backend: 'main', contextWindow: 4_096 }],
      images: { ...imageConfig(server), maxImagesPerRequest: 10 },
    })
    const urls = Array.from({ length: 8 }, (_, i) => server.url(`/png?${i}`))
    const error = await errorOf(await app.request('/v1/chat/completions', ask(...urls)), 400, 'context_length_exceeded')
    expect(error.message).toContain('4096 tokens')
    expect(error.message).toContain('8 images of 576 tokens each: 4608 tokens')
    expect(server.hits.size).toBe(0)
    expect(upstream.calls).toHaveLength(0)
  })
})

describe('large data URLs', () => {
  // Past 64 KiB a data URL's payload is kept as the request body's own bytes (never copied into a
  // string): the image step decodes it in slices and the backend gets exactly those bytes.
  // A PNG with trailing bytes (its header is what is checked), long enough to be decoded and sent in several slices.
  const LARGE = Buffer.concat([PNG, Buffer.alloc(1100 * KiB, 7)])
  const forwardedUrl = () => {
    const body = upstream.calls.at(-1)?.body as { messages: Array<{ content: Array<{ image_url?: { url: string } }> }> }
    return body.messages[0]?.content[0]?.image_url?.url
  }

  it('forwards the client’s own payload, byte for byte, however it was escaped', async () => {
    const { app } = appWith({ maxBytesPerImage: 2048 * KiB })
    const url = dataUrl(LARGE, 'image/png')
    expect((await app.request('/v1/chat/completions', ask(url))).status).toBe(200)
    expect(forwardedUrl()).toBe(url)
    // The same request as PHP's json_encode writes it ("image\/png"): decoded as a string instead, same result.
    const escaped = JSON.stringify(JSON.parse(ask(url).body as string)).replaceAll('/', '\\/')
    const res = await app.request('/v1/chat/completions', { ...ask(url), body: escaped })
    expect(res.status).toBe(200)
    expect(forwardedUrl()).toBe(url)
  })

  it('refuses a large payload that is not canonical base64, or not ASCII, naming the part', async () => {
    const { app } = appWith({ maxBytesPerImage: 2048 * KiB })
    const good = LARGE.toString('base64')
    for (const payload of [`${good.slice(0, -4)}====`, `${good.slice(0, 100_000)}é${good.slice(100_001)}`, `${good}A`]) {
      const res = await app.request('/v1/chat/completions', ask(`data:image/png;base64,${payload}`))
      const error = await errorOf(res, 400, 'invalid_image_data')
      expect(error.param).toBe(PARAM)
    }
  })

  it('refuses bytes that are not UTF-8 where it reads a large payload as an image, naming the part; elsewhere, as the body', async () => {
    const { app } = appWith({ maxBytesPerImage: 2048 * KiB })
    const BAD = Buffer.from([0xc3, 0x28]) // a lead byte without its continuation
    const [head = '', tail = ''] = (ask(dataUrl(LARGE, 'image/png')).body as string).split('iVBOR') // the payload's start
    const sent = (...parts: Array<string | Buffer>) =>
      app.request('/v1/chat/completions', { ...ask(), body: Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))) })
    // The image step accepts only base64's alphabet: the body parse leaves those bytes to it.
    const asImage = await errorOf(await sent(head, 'iVBOR', BAD, tail.slice(2)), 400, 'invalid_image_data')
    expect(asImage.param).toBe(PARAM)
    expect(asImage.message).toMatch(/invalid base64/)
    // The same bytes in a long text are decoded by the parse, which refuses them.
    const text = await sent(
      head.replace('"url":"data:image/png;base64,', '"url":"https://images.example/a.png","detail":"'),
      'iVBOR',
      BAD,
      tail.slice(2),
    )
    expect((await errorOf(text, 400, 'invalid_json')).message).toMatch(/not valid UTF-8/)
    expect(upstream.calls).toHaveLength(0)
  })

  it('sends the same large image twice in one request as two checked copies', async () => {
    const { app } = appWith({ maxBytesPerImage: 2048 * KiB })
    const url = dataUrl(LARGE, 'image/png')
    expect((await app.request('/v1/chat/completions', ask(url, url))).status).toBe(200)
    const body = upstream.calls.at(-1)?.body as { messages: Array<{ content: Array<{ image_url?: { url: string } }> }> }
    expect(body.messages[0]?.content.slice(0, 2).map((p) => p.image_url?.url)).toEqual([url, url])
  })
})
