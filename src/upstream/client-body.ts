import { headroomOf } from '../lib/headroom.js'
import type { InlineImage } from './encode-body.js'

/**
 * The request's bytes as the client sent them, when long data URLs' payloads are views of them,
 * and how many such views there are (validate sets it).
 */
export type ClientBody = Readonly<{ bytes: Buffer; payloadViews: number }>

/** The backend's JSON body as encodeBody lays it out: texts[0] heads[0] payload `"` texts[1] heads[1] payload `"` ... texts[n]. */
export type BodyPieces = Readonly<{
  length: number
  texts: readonly Buffer[]
  /** `"data:<mime>;base64,` before each payload. */
  heads: readonly Buffer[]
  /** Which image each payload is, in body order. */
  order: readonly number[]
  images: readonly InlineImage[]
}>

const QUOTE_BYTE = 0x22

/** Client bodies whose memory has had a front written into it. */
const rewritten = new WeakSet<Buffer>()

/**
 * The backend's body made of the client's own memory, or undefined when it cannot be. From its
 * first image on, the body must be the client's bytes exactly: each payload the client's memory at
 * the very offset where it would be written, every byte of JSON between and after them what the
 * client sent there. The JSON before the first image (the front: the model, any message before it)
 * may differ: it is written just before the first payload, over the client's own front and into
 * the unused bytes the body was read with (lib/headroom.ts), and the body is a view from there. A
 * client body that already holds that front (usually the client's own, when the model keeps its
 * name) is sent as it is.
 *
 * That is the usual case for an image sent by an OpenAI SDK, which serialises as JSON.stringify
 * does, keys in the order the gateway writes them. Sending these bytes saves a copy of every
 * image: a 100 KiB image request cost about a third more CPU copied, mostly in collecting the
 * copies. Bytes, not meaning, are compared: a body that parses the same but is written
 * differently (spaces, escapes, key order, a duplicate key another parser would read otherwise)
 * is built as usual, so the backend never reads anything but what the gateway would have sent.
 *
 * Writing is safe because nothing reads the client's front once it is parsed, and no payload lies
 * in it: every payload view is in the body, after the first (`payloadViews` counts them). A front
 * is written once per client body: a failover to a backend that needs another would change bytes
 * an earlier attempt may still be sending, so it gets a copy.
 */
export function clientBytesBody(client: ClientBody, pieces: BodyPieces): Buffer | undefined {
  const { bytes } = client
  const { length, texts, heads, order, images } = pieces
  const first = images[order[0] ?? -1]?.base64
  if (order.length !== client.payloadViews || !Buffer.isBuffer(first)) return undefined
  const front = Buffer.concat([texts[0] as Buffer, heads[0] as Buffer])
  const end = bytes.byteOffset + bytes.length
  const start = first.byteOffset - front.length
  if (start < bytes.byteOffset - headroomOf(bytes) || end - start !== length) return undefined
  if (!isClientsFromFirstPayload(bytes, pieces, first.byteOffset - bytes.byteOffset)) return undefined
  const body = Buffer.from(bytes.buffer, start, length)
  if (body.compare(front, 0, front.length, 0, front.length) === 0) return start === bytes.byteOffset ? bytes : body
  if (rewritten.has(bytes)) return undefined
  rewritten.add(bytes)
  front.copy(body)
  return body
}

/**
 * Whether, from offset `at` of the client's bytes (its first payload), they are the body's pieces
 * after its front. Those pieces are as long as the bytes left (the caller checked), so they end where the bytes do.
 */
function isClientsFromFirstPayload(client: Buffer, { texts, heads, order, images }: BodyPieces, at: number): boolean {
  const matches = (part: Buffer) => {
    const same = client.compare(part, 0, part.length, at, at + part.length) === 0
    at += part.length
    return same
  }
  for (const [i, n] of order.entries()) {
    if (i > 0 && !matches(heads[i] as Buffer)) return false
    const payload = images[n]?.base64
    if (!Buffer.isBuffer(payload) || payload.buffer !== client.buffer || payload.byteOffset !== client.byteOffset + at) return false
    at += payload.length
    if (client[at++] !== QUOTE_BYTE) return false
    if (!matches(texts[i + 1] as Buffer)) return false
  }
  return true
}
