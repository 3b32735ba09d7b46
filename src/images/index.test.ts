import { describe, expect, it } from 'vitest'
import { bmp, png } from '../../test/fixtures/images.js'
import { RELEASED_BODY_BYTES, releaseBodyMemory, watchBodyMemory } from '../lib/body-memory.js'
import { allocWithSpareRoom } from '../lib/spare-room.js'
import { LARGE_WORK_BYTES, WorkGate } from '../lib/work-gate.js'
import { errorOf } from '../../test/helpers/errors.js'
import { counterSum } from '../../test/helpers/metric-values.js'
import { parsedRequest, postJson, settle, STEP_MODEL, stepApp, stepConfig } from '../../test/helpers/step-app.js'
import { FinishLine, type FinishVariables } from '../completion/finish-line.js'
import type { ConfigInput } from '../config/schema.js'
import { ImageFetchError, type ImageFailureReason } from '../image-fetch/image-fetch-error.js'
import type { ImageFetcher } from '../image-fetch/image-fetcher.js'
import { sha256Hex } from '../lib/sha256.js'
import { createMetrics } from '../metrics/metrics.js'
import type { ValidateVariables } from '../validate/index.js'
import { images, type ImagesVariables } from './index.js'
import { MEMORY_PER_IMAGE_BYTE } from './resolve-images.js'

const PNG = png(16, 12)
const GREEN_PNG = png(16, 12, [0, 128, 0])
const URL_A = 'https://images.example/a.png'
const URL_B = 'https://images.example/b.png'

const dataUrl = (bytes: Buffer, mime = 'image/png') => `data:${mime};base64,${bytes.toString('base64')}`
const image = (url: string) => ({ type: 'image_url', image_url: { url } })
const text = (t: string) => ({ type: 'text', text: t })
const ask = (...urls: string[]) => ({ model: STEP_MODEL, messages: [{ role: 'user', content: [...urls.map(image), text('What is it?')] }] })

/**
 * An ImageFetcher that serves the given bytes per URL and reserves them in the in-flight budget
 * as the real one does; a URL it does not know fails with `failures[url]` (or `failed`).
 */
function fakeFetcher(served: Record<string, Buffer>, failures: Record<string, ImageFailureReason> = {}) {
  const calls: string[] = []
  const fetcher: ImageFetcher = {
    async fetch(url, { reserveBytes }) {
      calls.push(url)
      const bytes = served[url]
      if (!bytes) throw new ImageFetchError(failures[url] ?? 'failed', 'the image host answered HTTP 404')
      if (!(await reserveBytes(bytes.length))) throw new ImageFetchError('busy', 'images.maxInFlightBytes')
      return { bytes, url: new URL(url).href }
    },
    close: async () => undefined,
  }
  return { fetcher, calls }
}

/**
 * The images step on a throwaway app. Each request's body is the chat request to preset, and
 * gets its own finish line (in `lines`, in arrival order) that the test completes when it likes.
 */
function imagesApp(
  imagesConfig: ConfigInput['images'] = {},
  fetcher = fakeFetcher({}).fetcher,
  largeWork?: WorkGate,
  dataUrlPayloads?: ReadonlyMap<string, Buffer>,
) {
  const metrics = createMetrics({ defaultMetrics: false })
  const config = stepConfig({ images: imagesConfig })
  const lines: FinishLine[] = []
  const { app, reached } = stepApp<FinishVariables & ValidateVariables & ImagesVariables>(
    images({ config, imageFetcher: fetcher, metrics, ...(largeWork ? { largeWork } : {}) }),
    async (req) => {
      const finish = new FinishLine(0)
      lines.push(finish)
      const chatRequest = parsedRequest((await req.json()) as Record<string, unknown>)
      return { chatRequest, model: config.models[0]!, finish, ...(dataUrlPayloads ? { dataUrlPayloads } : {}) }
    },
  )
  const send = async (body: Record<string, unknown>) => app.request('/', postJson(body))
  return { send, reached, metrics, lines }
}

const finishOf = (line: FinishLine | undefined) => line?.complete({ outcome: 'completed', status: 200, cache: 'miss' })

describe('images: large images take turns', () => {
  it('decodes and checks an image over LARGE_WORK_BYTES in its turn, while a small one goes straight through', async () => {
    const gate = new WorkGate(1, 60_000)
    let free!: () => void
    const holding = gate.run(() => new Promise<void>((resolve) => (free = resolve)))
    const { send, reached } = imagesApp({}, fakeFetcher({}).fetcher, gate)
    // A PNG with a megabyte of trailing bytes: the type and size come from its header.
    const big = Buffer.concat([PNG, Buffer.alloc(LARGE_WORK_BYTES, 7)])
    let bigDone = false
    const bigRes = send(ask(dataUrl(big, 'image/png'))).then((res) => {
      bigDone = true
      return res
    })
    expect((await send(ask(dataUrl(PNG, 'image/png')))).status).toBe(200)
    await settle()
    expect(bigDone).toBe(false)
    free()
    await holding
    expect((await bigRes).status).toBe(200)
    expect(reached.map((r) => r.requestImages?.[0]?.identity.byteLength)).toEqual([PNG.length, big.length])
  })

  it('hashes an image over LARGE_WORK_BYTES only when asked for, in its turn, and once', async () => {
    const gate = new WorkGate(1, 60_000)
    let free!: () => void
    const holding = gate.run(() => new Promise<void>((resolve) => (free = resolve)))
    const big = Buffer.concat([PNG, Buffer.alloc(LARGE_WORK_BYTES, 7)])
    const { send, reached } = imagesApp({}, fakeFetcher({ [URL_A]: big }).fetcher, gate)
    // Downloaded and checked while the gate is held: the checks read its header only.
    expect((await send(ask(URL_A))).status).toBe(200)
    const identity = reached[0]?.requestImages?.[0]?.identity
    let hashed = false
    const digest = identity?.sha256().then((hex) => {
      hashed = true
      return hex
    })
    await settle()
    expect(hashed).toBe(false)
    free()
    await holding
    expect(await digest).toBe(sha256Hex(big))
    expect(identity?.sha256()).toBe(identity?.sha256())
  })
})

describe('images: requestImages', () => {
  it('sets an empty list for a request without image parts, and fetches nothing', async () => {
    const { fetcher, calls } = fakeFetcher({})
    const { send, reached } = imagesApp({}, fetcher)
    expect((await send({ model: STEP_MODEL, messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200)
    expect(reached[0]?.requestImages).toEqual([])
    expect(calls).toEqual([])
  })

  /** What checking PNG finds, wherever it came from. */
  const CHECKED_PNG = { sha256: expect.any(Function), mime: 'image/png', width: 16, height: 12, byteLength: PNG.length }

  it('checks a data URL: hash, sniffed type and size, its location, and its canonical base64 kept (not its decoded bytes)', async () => {
    const { send, reached } = imagesApp()
    const url = dataUrl(PNG, 'image/jpeg') // the declared type is never trusted
    expect((await send(ask(url))).status).toBe(200)
    expect(reached[0]?.requestImages).toEqual([
      {
        messageIndex: 0,
        partIndex: 0,
        url,
        identity: { ...CHECKED_PNG, source: 'data', base64: PNG.toString('base64') },
      },
    ])
    expect(await reached[0]?.requestImages?.[0]?.identity.sha256()).toBe(sha256Hex(PNG))
  })

  it('downloads a URL with the image fetcher and counts the download in the fetch metrics', async () => {
    const { fetcher, calls } = fakeFetcher({ [URL_A]: PNG })
    const { send, reached, metrics } = imagesApp({}, fetcher)
    expect((await send(ask(URL_A))).status).toBe(200)
    expect(calls).toEqual([URL_A])
    expect(reached[0]?.requestImages?.[0]).toEqual({
      messageIndex: 0,
      partIndex: 0,
      url: URL_A,
      identity: { ...CHECKED_PNG, bytes: PNG, source: 'url', fetchedUrl: URL_A },
    })
    expect(await reached[0]?.requestImages?.[0]?.identity.sha256()).toBe(sha256Hex(PNG))
    expect(await counterSum(metrics.imageFetches, { result: 'ok' })).toBe(1)
    const [sizes] = (await metrics.imageFetchBytes.get()).values.filter((v) => v.metricName === 'llava_gateway_image_fetch_bytes_sum')
    expect(sizes?.value).toBe(PNG.length)
  })

  it('fetches a URL named twice once, and lists both parts in request order', async () => {
    const { fetcher, calls } = fakeFetcher({ [URL_A]: PNG, [URL_B]: GREEN_PNG })
    const { send, reached } = imagesApp({}, fetcher)
    const body = {
      model: STEP_MODEL,
      messages: [
        { role: 'user', content: [image(URL_A), text('and'), image(URL_B)] },
        { role: 'assistant', content: 'Two squares.' },
        { role: 'user', content: [text('Again:'), image(URL_A)] },
      ],
    }
    expect((await send(body)).status).toBe(200)
    expect(calls.sort()).toEqual([URL_A, URL_B])
    const found = reached[0]?.requestImages ?? []
    expect(await Promise.all(found.map(async (i) => [i.messageIndex, i.partIndex, await i.identity.sha256()]))).toEqual([
      [0, 0, sha256Hex(PNG)],
      [0, 2, sha256Hex(GREEN_PNG)],
      [2, 1, sha256Hex(PNG)],
    ])
    expect(found[2]?.identity).toBe(found[0]?.identity)
  })
})

describe('images: refusals', () => {
  it('answers 400 too_many_images naming the first part past the limit, before fetching anything', async () => {
    const { fetcher, calls } = fakeFetcher({ [URL_A]: PNG, [URL_B]: GREEN_PNG })
    const { send, reached } = imagesApp({ maxImagesPerRequest: 2 }, fetcher)
    const error = await errorOf(await send(ask(URL_A, URL_B, URL_A)), 400, 'too_many_images')
    expect(error.param).toBe('messages[0].content[2].image_url.url')
    expect(error.message).toBe('The request has 3 images; the limit is 2 per request (images.maxImagesPerRequest).')
    expect(calls).toEqual([])
    expect(reached).toHaveLength(0)
  })

  it('with maxImagesPerRequest 0, refuses any image and names the first one', async () => {
    const { send } = imagesApp({ maxImagesPerRequest: 0 })
    const error = await errorOf(await send(ask(dataUrl(PNG))), 400, 'too_many_images')
    expect(error.param).toBe('messages[0].content[0].image_url.url')
  })

  it.each([
    ['forbidden', 400, 'image_url_forbidden'],
    ['invalid', 400, 'invalid_image_url'],
    ['timeout', 400, 'image_fetch_timeout'],
    ['too_large', 413, 'image_too_large'],
    ['failed', 400, 'image_fetch_failed'],
  ] as const)('maps a %s download failure to %i %s naming the part, and counts it', async (reason, status, code) => {
    const { fetcher } = fakeFetcher({ [URL_A]: PNG }, { [URL_B]: reason })
    const { send, reached, metrics } = imagesApp({}, fetcher)
    const error = await errorOf(await send(ask(URL_A, URL_B)), status, code)
    expect(error.param).toBe('messages[0].content[1].image_url.url')
    expect(await counterSum(metrics.imageFetches, { result: reason })).toBe(1)
    expect(reached).toHaveLength(0)
  })

  it('refuses bytes that are not a supported image, judged from the bytes', async () => {
    const { send } = imagesApp()
    const error = await errorOf(await send(ask(dataUrl(bmp(16, 16)))), 400, 'image_unsupported_format')
    expect(error.param).toBe('messages[0].content[0].image_url.url')
  })

  it('refuses an invalid data URL as invalid_image_data', async () => {
    const { send } = imagesApp()
    const error = await errorOf(await send(ask('data:image/png;base64,not base64!')), 400, 'invalid_image_data')
    expect(error.param).toBe('messages[0].content[0].image_url.url')
  })
})

describe('images: bytes in flight are held until the request has finished', () => {
  // One image fits in the budget, two do not: each is charged MEMORY_PER_IMAGE_BYTE times its size.
  const charge = PNG.length * MEMORY_PER_IMAGE_BYTE
  const tight = (inFlightWaitMs: number) => ({ maxBytesPerImage: PNG.length, maxInFlightBytes: charge + charge / 2, inFlightWaitMs })

  it('refuses a second request with 503 images_busy while the first is unfinished, and takes one once it has finished', async () => {
    const { send, lines } = imagesApp(tight(0))
    expect((await send(ask(dataUrl(PNG)))).status).toBe(200)
    const busy = await send(ask(dataUrl(GREEN_PNG)))
    const error = await errorOf(busy, 503, 'images_busy')
    expect(busy.headers.get('retry-after')).toBe('1')
    expect(error.param).toBe('messages[0].content[0].image_url.url')

    finishOf(lines[0])
    await settle()
    expect((await send(ask(dataUrl(GREEN_PNG)))).status).toBe(200)
  })

  it('holds them past the step: the request is answered, and its bytes stay held until finish.complete()', async () => {
    const { send, lines } = imagesApp(tight(0))
    await send(ask(dataUrl(PNG)))
    await settle()
    await errorOf(await send(ask(dataUrl(PNG))), 503, 'images_busy') // answered long ago, still not finished
    finishOf(lines[0])
    await settle()
    expect((await send(ask(dataUrl(PNG)))).status).toBe(200)
  })

  it('makes a second request wait (within inFlightWaitMs) and lets it through when the first finishes', async () => {
    const { send, lines } = imagesApp(tight(60_000))
    expect((await send(ask(dataUrl(PNG)))).status).toBe(200)
    let answered = false
    const second = send(ask(dataUrl(GREEN_PNG))).then((res) => {
      answered = true
      return res
    })
    await settle(10)
    expect(answered).toBe(false)
    finishOf(lines[0])
    expect((await second).status).toBe(200)
  })

  it('also releases the bytes of a request that finished as rejected, after its image was refused', async () => {
    const tiny = png(2, 2) // below images.minDimension (8): refused after its bytes were reserved
    expect(tiny.length * 2).toBeGreaterThan(PNG.length) // ...and big enough that it and PNG do not fit together
    const { send, lines } = imagesApp(tight(0))
    await errorOf(await send(ask(dataUrl(tiny))), 400, 'image_dimensions_out_of_range')
    await errorOf(await send(ask(dataUrl(PNG))), 503, 'images_busy')
    lines[0]?.complete({ outcome: 'rejected', status: 400, cache: 'none' })
    await settle()
    expect((await send(ask(dataUrl(PNG)))).status).toBe(200)
  })

  it('counts downloaded bytes the same way as data URLs', async () => {
    const { fetcher } = fakeFetcher({ [URL_A]: PNG, [URL_B]: GREEN_PNG })
    const { send, lines } = imagesApp(tight(0), fetcher)
    expect((await send(ask(URL_A))).status).toBe(200)
    await errorOf(await send(ask(URL_B)), 503, 'images_busy')
    finishOf(lines[0])
    await settle()
    expect((await send(ask(URL_B))).status).toBe(200)
  })
})

describe('images: downloads given back', () => {
  /** A downloaded PNG as the fetcher leaves one: memory of its own, watched (lib/body-memory.ts). */
  function downloaded(size: number): Buffer {
    const bytes = allocWithSpareRoom(size, 0).fill(7)
    PNG.copy(bytes)
    watchBodyMemory(bytes)
    return bytes
  }

  it("gives a large download's memory back once the request has finished, not before; small ones and data URLs are left to the collector", async () => {
    const large = downloaded(RELEASED_BODY_BYTES)
    const small = Buffer.from(GREEN_PNG)
    const { send, reached, lines } = imagesApp({}, fakeFetcher({ [URL_A]: large, [URL_B]: small }).fetcher)
    expect((await send(ask(URL_A, URL_B, URL_A, dataUrl(PNG)))).status).toBe(200)
    expect(reached[0]?.requestImages?.map((i) => i.identity.source)).toEqual(['url', 'url', 'url', 'data'])
    await settle()
    expect(large.length).toBe(RELEASED_BODY_BYTES)
    finishOf(lines[0])
    await settle()
    expect([large.length, small.length]).toEqual([0, GREEN_PNG.length])
  })

  it('keeps a download being hashed (a slice at a time) when its request finishes: the hash reads every byte', async () => {
    const large = downloaded(5 * 1024 * 1024)
    const { send, reached, lines } = imagesApp({}, fakeFetcher({ [URL_A]: large }).fetcher)
    expect((await send(ask(URL_A))).status).toBe(200)
    const expected = sha256Hex(large)
    const digest = reached[0]?.requestImages?.[0]?.identity.sha256()
    finishOf(lines[0])
    await settle()
    expect(large.length).toBe(5 * 1024 * 1024)
    expect(await digest).toBe(expected)
  })

  it("keeps the request body a data URL's payload is a view of while that payload is hashed, a slice at a time", async () => {
    const image = Buffer.concat([PNG, Buffer.alloc(5 * 1024 * 1024, 7)])
    const base64 = image.toString('base64')
    // The client's body as validate leaves one: memory of its own, watched, the payload a view of it.
    const body = allocWithSpareRoom(base64.length + 2, 0)
    body.write(`"${base64}"`, 'latin1')
    watchBodyMemory(body)
    const url = 'data:image/png;base64,\u0000placeholder:0'
    const payloads = new Map([[url, body.subarray(1, 1 + base64.length)]])
    const { send, reached } = imagesApp({}, fakeFetcher({}).fetcher, undefined, payloads)
    expect((await send(ask(url))).status).toBe(200)
    const digest = reached[0]?.requestImages?.[0]?.identity.sha256()
    expect(releaseBodyMemory(body)).toBe(false)
    expect(await digest).toBe(sha256Hex(image))
    expect(releaseBodyMemory(body)).toBe(true)
  })
})
