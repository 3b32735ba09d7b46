import type { ImageMime } from './sniff.js'

/**
 * What the gateway knows of an image once it has checked it. The cache keys on `sha256()` and `mime`
 * (never the URL), metering reads the dimensions, and forwarding sends exactly the checked bytes.
 */
export type ImageIdentity = Readonly<{
  /**
   * SHA-256 (hex) of the image's bytes, hashed the first time it is asked for and kept. Only the
   * cache key and affinity routing read it, and most requests use neither (the cache admits
   * deterministic requests by default), so they never hash their images: 9% of a 100 KiB image
   * request's CPU (bench:ab).
   */
  sha256(): Promise<string>
  mime: ImageMime
  width: number
  height: number
  byteLength: number
  /** For a downloaded image: the URL the bytes came from, as the gateway's own parser wrote it (after redirects). */
  fetchedUrl?: string
}> &
  ImagePayload

/**
 * The checked bytes as the gateway holds them: a download's bytes, or a data URL's canonical
 * base64 payload (as text, or as the request body's own bytes), never decoded whole: forwarding
 * sends it as it came, and hashing reads it a piece at a time (see checkDataUrlSliced).
 */
export type ImagePayload = Readonly<
  { source: 'url'; bytes: Buffer; base64?: undefined } | { source: 'data'; base64: string | Buffer; bytes?: undefined }
>

/**
 * Where an image part is: `partIndex` in the request as it goes on (images moved first, when the
 * model reorders), `clientPartIndex` where the client put it, when that differs (what errors name).
 */
export type ImageLocation = Readonly<{ messageIndex: number; partIndex: number; clientPartIndex?: number }>

export type RequestImage = ImageLocation & Readonly<{ url: string; identity: ImageIdentity }>

export function toDataUrl(identity: ImageIdentity): string {
  const { base64 } = identity
  const payload = base64 === undefined ? identity.bytes.toString('base64') : typeof base64 === 'string' ? base64 : base64.toString('latin1')
  return `data:${identity.mime};base64,${payload}`
}
