import { spareRoomOf } from '../lib/spare-room.js'
import type { ClientBody } from '../validate/index.js'
import type { InlineImage } from './encode-body.js'

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

const QUOTE = Buffer.from('"')

/** Client bodies whose memory has had a front or a back written into it. */
const rewritten = new WeakSet<Buffer>()

/**
 * The backend's body made of the client's own memory, or undefined when it cannot be. From its
 * first image to its last, the body must be the client's bytes exactly: each payload the client's
 * memory at the very offset where it would be written, every byte of JSON between them what the
 * client sent there. The JSON before the first image (the front: the model, any message before
 * it) and after the last (the back: the parameters, `stream_options` the gateway adds to a
 * stream, a budget's `max_tokens`) may differ. They are written just before the first payload
 * and just after the last, over the client's own and into the unused bytes the body was read with
 * (lib/spare-room.ts), and the body is a view of that memory. A client body that already holds
 * that front and back (usually its own, when nothing changed) is sent as it is.
 *
 * That is the usual case for an image sent by an OpenAI SDK, which serialises as JSON.stringify
 * does. Sending these bytes saves a copy of every image: a 100 KiB image request cost 30-60% more
 * CPU copied, mostly in collecting the copies. Bytes, not meaning, are compared: a body whose
 * images are written differently, or whose JSON between them is (spaces, escapes, key order), is
 * built as usual, so the backend never reads anything but what the gateway would have sent.
 *
 * Writing is safe because nothing reads the client's JSON once it is parsed, and no payload lies
 * in what is written over: every payload view is one of the body's images (`payloadViews` counts
 * them), all between its first and its last. A front and back are written once per client body: a
 * failover to a backend that needs others would change bytes an earlier attempt may still be
 * sending, so it gets a copy.
 */
export function clientBytesBody(client: ClientBody, pieces: BodyPieces): Buffer | undefined {
  const { bytes } = client
  const { length, texts, heads, order, images } = pieces
  const payloads = order.map((n) => images[n]?.base64)
  const [first] = payloads
  const last = payloads.at(-1)
  if (payloads.length !== client.payloadViews || !Buffer.isBuffer(first) || !Buffer.isBuffer(last)) return undefined
  const front = Buffer.concat([texts[0] as Buffer, heads[0] as Buffer])
  const back = Buffer.concat([QUOTE, texts.at(-1) as Buffer])
  const spare = spareRoomOf(bytes)
  const start = first.byteOffset - front.length
  const backAt = last.byteOffset + last.length
  const end = backAt + back.length
  if (start < bytes.byteOffset - spare || end > bytes.byteOffset + bytes.length + spare) return undefined
  // Every payload where the body puts it: then the body runs from `start` to `end`, `length` bytes.
  if (!isClientsBetweenPayloads(bytes, pieces, payloads)) return undefined
  const body = Buffer.from(bytes.buffer, start, length)
  if (holdsAt(body, front, 0) && holdsAt(body, back, backAt - start)) {
    return start === bytes.byteOffset && body.length === bytes.length ? bytes : body
  }
  if (rewritten.has(bytes)) return undefined
  rewritten.add(bytes)
  front.copy(body)
  back.copy(body, backAt - start)
  return body
}

/**
 * Whether each payload is the client's memory where the body puts it, and the client's bytes
 * between two payloads are the body's: the closing quote, the text, the next data URL's head.
 */
function isClientsBetweenPayloads(client: Buffer, { texts, heads }: BodyPieces, payloads: readonly unknown[]): boolean {
  let at = (payloads[0] as Buffer).byteOffset - client.byteOffset
  for (const [i, payload] of payloads.entries()) {
    if (i > 0) {
      for (const part of [QUOTE, texts[i] as Buffer, heads[i] as Buffer]) {
        if (!holdsAt(client, part, at)) return false
        at += part.length
      }
    }
    if (!Buffer.isBuffer(payload) || payload.buffer !== client.buffer || payload.byteOffset !== client.byteOffset + at) return false
    at += payload.length
  }
  return true
}

/**
 * Whether `buffer` holds `part` at `at`. Past its end it does not: a payload found out of place
 * further on can put a caller's offset there, where compare() would throw.
 */
function holdsAt(buffer: Buffer, part: Buffer, at: number): boolean {
  return at + part.length <= buffer.length && buffer.compare(part, 0, part.length, at, at + part.length) === 0
}
