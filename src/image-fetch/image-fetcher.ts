import type { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import type { FetchLimits, ImageFetcherLimits } from './fetch-limits.js'
import type { Release } from '../lib/weighted-semaphore.js'
import { WeightedSemaphore } from '../lib/weighted-semaphore.js'
import { timeoutStage } from '../lib/network-errors.js'
import { dropStream } from '../lib/drop-stream.js'
import { watchBodyMemory } from '../lib/body-memory.js'
import { readCapped } from '../lib/read-capped.js'
import { guardedConnector } from './guarded-connector.js'
import { createHostPolicy } from './host-policy.js'
import { ImageFetchError } from './image-fetch-error.js'
import { systemNetwork, type ImageNetwork } from './network.js'
import { checkImageUrl } from './url-guard.js'

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/**
 * The image's bytes, and the URL they came from as the gateway's own parser serialised it (the
 * last hop, after redirects): the one URL a backend may be given to fetch again.
 */
export type FetchedImage = { bytes: Buffer; url: string }

export type FetchOptions = {
  signal: AbortSignal
  /**
   * Reserves room for this many bytes in the gateway-wide budget (answering undefined when it is
   * full); the caller owns the reservation and releases it when the request is done.
   */
  reserveBytes: (amount: number) => Promise<Release | undefined>
}

export interface ImageFetcher {
  fetch(url: string, options: FetchOptions): Promise<FetchedImage>
  close(): Promise<void>
}

/**
 * Downloads image URLs under every limit in `images.fetch`: checked URL, guarded and pinned
 * connections, redirects followed by hand (each hop checked again), timeouts for connect, headers
 * and the whole download, and a byte cap enforced while the body streams in.
 */
export function createImageFetcher(config: ImageFetcherLimits, network: ImageNetwork = systemNetwork): ImageFetcher {
  const { fetch: limits } = config
  const policy = createHostPolicy(limits)
  const agent = new Agent({
    connect: guardedConnector(network, policy, limits.connectTimeoutMs),
    headersTimeout: limits.headersTimeoutMs,
    bodyTimeout: limits.totalTimeoutMs,
    connections: 8,
  })
  const slots = new WeightedSemaphore(limits.maxConcurrent)

  async function download(raw: string, options: FetchOptions): Promise<FetchedImage> {
    const deadline = AbortSignal.timeout(limits.totalTimeoutMs)
    const signal = AbortSignal.any([options.signal, deadline])
    let url = checkImageUrl(raw, limits, policy)
    for (let hop = 0; ; hop++) {
      let res
      try {
        res = await request(url, {
          method: 'GET',
          dispatcher: agent,
          signal,
          headers: { accept: 'image/jpeg, image/png, image/webp, image/gif', 'user-agent': 'llava-gateway' },
        })
      } catch (err) {
        throw toFetchError(err, deadline)
      }
      // Bodies not read are dropped with their errors ignored: undici turns destroying an unfinished
      // body into an 'error' event, which unheard would be an uncaught exception taking the gateway down.
      if (REDIRECTS.has(res.statusCode)) {
        dropStream(res.body)
        if (hop >= limits.maxRedirects) {
          throw new ImageFetchError('failed', `more than ${limits.maxRedirects} redirects (images.fetch.maxRedirects)`)
        }
        url = nextHop(url, res.headers['location'], limits, policy)
        continue
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        dropStream(res.body)
        throw new ImageFetchError('failed', `the image host answered HTTP ${res.statusCode}`)
      }
      const bytes = await readImageBody(res.body, res.headers['content-length'], config.maxBytesPerImage, options, deadline)
      return { bytes, url: url.href }
    }
  }

  return {
    async fetch(raw, options) {
      const slot = await slots.acquire(1, config.inFlightWaitMs)
      if (!slot) throw new ImageFetchError('busy', 'too many image downloads in flight')
      try {
        return await download(raw, options)
      } finally {
        slot()
      }
    },
    close: () => agent.close(),
  }
}

function nextHop(
  current: URL,
  location: string | string[] | undefined,
  limits: FetchLimits,
  policy: ReturnType<typeof createHostPolicy>,
): URL {
  if (typeof location !== 'string' || location === '') throw new ImageFetchError('failed', 'a redirect without a Location header')
  let next: URL
  try {
    next = new URL(location, current)
  } catch {
    throw new ImageFetchError('failed', 'a redirect to an invalid URL')
  }
  const checked = checkImageUrl(next, limits, policy)
  if (current.protocol === 'https:' && checked.protocol === 'http:') {
    throw new ImageFetchError('forbidden', 'a redirect from https to http')
  }
  return checked
}

async function readImageBody(
  body: Readable,
  contentLength: string | string[] | undefined,
  maxBytes: number,
  options: FetchOptions,
  deadline: AbortSignal,
): Promise<Buffer> {
  const declared = typeof contentLength === 'string' ? Number(contentLength) : NaN
  if (declared > maxBytes) {
    dropStream(body)
    throw new ImageFetchError('too_large', `the image is ${declared} bytes; the limit is ${maxBytes} bytes (images.maxBytesPerImage)`)
  }
  const release = await options.reserveBytes(Number.isFinite(declared) ? declared : maxBytes)
  if (!release) {
    dropStream(body)
    throw new ImageFetchError('busy', 'the gateway holds too many image bytes')
  }
  let bytes: Buffer | undefined
  try {
    // Joined into memory of its own and watched: the images step gives a large image back when its request is over.
    bytes = await readCapped(body, maxBytes, { ownMemory: true })
  } catch (err) {
    release()
    throw toFetchError(err, deadline)
  }
  if (!bytes) {
    release()
    throw new ImageFetchError('too_large', `the image is larger than the limit of ${maxBytes} bytes (images.maxBytesPerImage)`)
  }
  watchBodyMemory(bytes)
  return bytes
}

function toFetchError(err: unknown, deadline: AbortSignal): ImageFetchError {
  if (err instanceof ImageFetchError) return err
  const cause = (err as { cause?: unknown }).cause
  if (cause instanceof ImageFetchError) return cause
  if (deadline.aborted || timeoutStage(err) !== undefined) {
    return new ImageFetchError('timeout', 'the image download timed out')
  }
  return new ImageFetchError('failed', 'the image could not be downloaded')
}
