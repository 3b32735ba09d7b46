import type { ImagesConfig } from '../config/schema.js'
import { gatewayError, GatewayError } from '../errors/gateway-error.js'
import { readingBodyMemory } from '../lib/body-memory.js'
import { once } from '../lib/once.js'
import { sha256HexSliced } from '../lib/sha256.js'
import type { Release, WeightedSemaphore } from '../lib/weighted-semaphore.js'
import { LARGE_WORK_BYTES, type WorkGate } from '../lib/work-gate.js'
import type { ChatMessage } from '../validate/index.js'
import { checkImageBytes, checkSniffed } from './check-bytes.js'
import { checkDataUrlSliced, sha256OfCanonicalBase64 } from './data-url.js'
import { ImageFetchError } from '../image-fetch/image-fetch-error.js'
import type { FetchedImage, ImageFetcher } from '../image-fetch/image-fetcher.js'
import type { ImageIdentity, ImageLocation, RequestImage } from './image-identity.js'
import { imageFetchFailure, type PartRef } from './to-gateway-error.js'

export type ImagePartRef = ImageLocation & { url: string }

/**
 * What one image byte costs in memory until the request is done: the bytes themselves, their
 * base64 text in the rewritten request (4/3), the JSON body sent upstream (4/3 again) and its
 * encoded copy on the socket (4/3): about 5x. The in-flight budget is charged that much, so
 * `images.maxInFlightBytes` bounds the memory image handling holds, not just the raw bytes. (A data
 * URL's bytes are never held decoded, but its request body is: it is charged the same.)
 */
export const MEMORY_PER_IMAGE_BYTE = 5

export function findImageParts(messages: readonly ChatMessage[], clientPartOrder?: ReadonlyMap<number, readonly number[]>): ImagePartRef[] {
  const found: ImagePartRef[] = []
  messages.forEach((message, messageIndex) => {
    if (!Array.isArray(message.content)) return
    const order = clientPartOrder?.get(messageIndex)
    message.content.forEach((part, partIndex) => {
      if (part.type !== 'image_url') return
      const clientPartIndex = order?.[partIndex]
      found.push({ messageIndex, partIndex, url: part.image_url.url, ...(clientPartIndex === undefined ? {} : { clientPartIndex }) })
    })
  })
  return found
}

/** The part as the client sent it: `param` for an error body, `label` for its message. */
export const partRef = ({ messageIndex, partIndex, clientPartIndex = partIndex }: ImageLocation): PartRef => ({
  param: `messages[${messageIndex}].content[${clientPartIndex}].image_url.url`,
  label: `messages[${messageIndex}].content[${clientPartIndex}]`,
})

export type ResolveContext = {
  limits: ImagesConfig
  fetcher: ImageFetcher
  /** Gateway-wide image bytes in flight. */
  bytes: WeightedSemaphore
  /**
   * The client's request signal, asked for only when something can wait on it (a download, a turn
   * at large work): building one costs more than decoding a small data URL.
   */
  signal(): AbortSignal
  /** Every reservation made is pushed here; the caller releases them when the request is done. */
  held: Release[]
  /** Decoding or hashing an image over LARGE_WORK_BYTES waits its turn here. */
  largeWork?: WorkGate
  /** Data URL payloads the body parse kept as bytes, by the placeholder URL standing for each. */
  payloads?: ReadonlyMap<string, Buffer>
  /** Told the outcome of every URL download: `ok` with its size, or the failure reason. */
  onFetch?(result: 'ok' | ImageFetchError['reason'], bytes?: number): void
}

/**
 * Every image part → its checked identity. Each distinct URL (or data URL) is resolved once, up to
 * `concurrencyPerRequest` at a time; the first failure stops the others and is what the client sees.
 */
export async function resolveImages(parts: readonly ImagePartRef[], ctx: ResolveContext): Promise<RequestImage[]> {
  const firstPartOf = new Map<string, ImagePartRef>()
  for (const part of parts) if (!firstPartOf.has(part.url)) firstPartOf.set(part.url, part)
  const unique = [...firstPartOf.values()]
  const stop = new AbortController()
  let combined: AbortSignal | undefined
  const signal = () => (combined ??= AbortSignal.any([ctx.signal(), stop.signal]))
  const results = new Map<string, ImageIdentity>()
  let failure: GatewayError | undefined

  let next = 0
  const worker = async () => {
    while (next < unique.length && !failure) {
      const part = unique[next++] as ImagePartRef
      try {
        results.set(part.url, await resolveOne(part, { ...ctx, signal }))
      } catch (err) {
        failure ??= toImageError(err, part, ctx.limits)
        stop.abort()
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(ctx.limits.fetch.concurrencyPerRequest, unique.length) }, worker))
  if (failure) throw failure
  return parts.map((part) => ({ ...part, identity: results.get(part.url) as ImageIdentity }))
}

async function resolveOne(part: ImagePartRef, ctx: ResolveContext): Promise<ImageIdentity> {
  const where = partRef(part)
  const reserveBytes = async (amount: number) => {
    const release = await ctx.bytes.acquire(amount * MEMORY_PER_IMAGE_BYTE, ctx.limits.inFlightWaitMs)
    if (release) ctx.held.push(release)
    return release
  }
  const inTurn = <T>(size: number, work: () => Promise<T>): Promise<T> =>
    ctx.largeWork && size > LARGE_WORK_BYTES ? ctx.largeWork.run(work, ctx.signal()) : work()
  if (/^data:/i.test(part.url)) {
    const payload = ctx.payloads?.get(part.url)
    const parsed = await inTurn(payload?.length ?? part.url.length, () => checkDataUrlSliced(part.url, payload))
    if (!parsed.ok) {
      throw gatewayError('invalid_image_data', {
        param: where.param,
        message: `The data URL at ${where.label} is invalid: ${parsed.reason}.`,
      })
    }
    if (parsed.byteLength > ctx.limits.maxBytesPerImage) {
      throw new ImageFetchError(
        'too_large',
        `${parsed.byteLength} bytes; the limit is ${ctx.limits.maxBytesPerImage} bytes (images.maxBytesPerImage)`,
      )
    }
    if (!(await reserveBytes(parsed.byteLength))) throw new ImageFetchError('busy', 'images.maxInFlightBytes')
    const checked = checkSniffed(parsed.sniffed, ctx.limits, where)
    if (checked instanceof GatewayError) throw checked
    const { base64, byteLength } = parsed
    // Hashed when first asked for (see ImageIdentity.sha256); a large image waits its turn, as its check did.
    const sha256 = once(() => inTurn(base64.length, () => whileReading(base64, () => sha256OfCanonicalBase64(base64))))
    return { ...checked, sha256, byteLength, source: 'data', base64 }
  }
  let fetched: FetchedImage
  try {
    fetched = await ctx.fetcher.fetch(part.url, { signal: ctx.signal(), reserveBytes })
  } catch (err) {
    if (err instanceof ImageFetchError) ctx.onFetch?.(err.reason)
    throw err
  }
  const { bytes, url: fetchedUrl } = fetched
  ctx.onFetch?.('ok', bytes.length)
  const checked = checkImageBytes(bytes, ctx.limits, where)
  if (checked instanceof GatewayError) throw checked
  const sha256 = once(() => inTurn(bytes.length, () => whileReading(bytes, () => sha256HexSliced(bytes))))
  return { ...checked, sha256, byteLength: bytes.length, source: 'url', bytes, fetchedUrl }
}

/**
 * A large image is hashed a slice at a time: the memory it is read from (a download, or the request
 * body a data URL's payload is a view of) is not given back while it is (lib/body-memory.ts).
 */
async function whileReading<T>(memory: string | Buffer, read: () => Promise<T>): Promise<T> {
  const done = typeof memory === 'string' ? undefined : readingBodyMemory(memory)
  try {
    return await read()
  } finally {
    done?.()
  }
}

function toImageError(err: unknown, part: ImagePartRef, limits: ImagesConfig): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof ImageFetchError) return imageFetchFailure(err, partRef(part), limits)
  throw err
}
