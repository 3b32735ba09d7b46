import { randomUUID } from 'node:crypto'
import type { RequestBody } from '../backends/request-body.js'
import { readingBodyMemory } from '../lib/body-memory.js'
import type { ClientBody } from '../validate/index.js'
import { clientBytesBody } from './client-body.js'

/** An image the body carries inline, as a data URL: its canonical base64 when the client sent one, else its bytes. */
export type InlineImage = Readonly<{ mime: string } & ({ base64: string | Buffer } | { base64?: undefined; bytes: Buffer })>

/** Base64 characters per piece of a payload the client sent (a multiple of 4). */
const PIECE_CHARS = 1 << 20
/**
 * Image bytes encoded at a time (a multiple of 3): 64 KiB of base64, an ordinary V8 string. A
 * longer one goes to the large-object space and costs several times more to make.
 */
const ENCODE_BYTES = ((1 << 16) / 4) * 3

/**
 * A body up to this size is sent as one buffer: the socket takes it (and its headers) in one write,
 * where its pieces would each cost a system call. Copying 256 KiB costs less than the writes saved.
 */
const WHOLE_BODY_BYTES = 256 * 1024

/**
 * The backend's JSON body. With no inline image it is plain JSON text. With inline images, each
 * image's URL is first a marker string (a random nonce: no client text can collide with it), the
 * small rest is serialised as usual, and the body is sent in pieces: the JSON around the markers,
 * and each image as `data:<mime>;base64,<payload>` a megabyte at a time, so no 27 MB string is ever
 * built, escaped or copied on the event loop. A small body is joined into one buffer instead.
 *
 * `clientBody` is the request's bytes as the client sent them, whose memory the images' payloads
 * are views of. When the body built here would be those bytes from its first image to its last,
 * they are sent, not copied, with the JSON before and after written around them: see clientBytesBody.
 */
export function encodeBody(build: (inlineUrl: (image: InlineImage) => string) => unknown, clientBody?: ClientBody): RequestBody {
  // Made on the first image only: a text-only body (most requests) needs no random bytes.
  let marker: string | undefined
  const images: InlineImage[] = []
  const json = JSON.stringify(
    build((image) => {
      marker ??= `llava-gateway-inline-${randomUUID()}-`
      images.push(image)
      return `${marker}${images.length - 1}`
    }),
  )
  if (marker === undefined) return json
  // The JSON around each marker, and which image each marker stands for. Searched, not split with a
  // regular expression: a new nonce is a new expression to compile, 30 µs a request.
  const quoted = `"${marker}`
  const texts: Buffer[] = []
  const order: number[] = []
  let from = 0
  for (let at = json.indexOf(quoted); at >= 0; at = json.indexOf(quoted, from)) {
    const close = json.indexOf('"', at + quoted.length)
    texts.push(Buffer.from(json.slice(from, at)))
    order.push(Number(json.slice(at + quoted.length, close)))
    from = close + 1
  }
  texts.push(Buffer.from(json.slice(from)))
  const heads = order.map((n) => Buffer.from(`"data:${(images[n] as InlineImage).mime};base64,`))
  const base64Length = (image: InlineImage) => (image.base64 === undefined ? 4 * Math.ceil(image.bytes.length / 3) : image.base64.length)
  const length =
    texts.reduce((sum, text) => sum + text.length, 0) +
    order.reduce((sum, n, i) => sum + (heads[i] as Buffer).length + base64Length(images[n] as InlineImage) + 1, 0)
  // Base64 comes as latin1 text where it is text already: written straight into a small body, no buffer of its own.
  function* parts(): Generator<Buffer | string> {
    for (const [i, text] of texts.entries()) {
      yield text
      const n = order[i]
      if (n === undefined) continue
      yield heads[i] as Buffer
      yield* base64Pieces(images[n] as InlineImage)
      yield QUOTE
    }
  }
  const asSent = clientBody && clientBytesBody(clientBody, { length, texts, heads, order, images })
  if (asSent) return asSent
  if (length <= WHOLE_BODY_BYTES) {
    const whole = Buffer.allocUnsafe(length)
    let at = 0
    for (const part of parts()) at += typeof part === 'string' ? whole.write(part, at, 'latin1') : part.copy(whole, at)
    return whole
  }
  return { length, chunks: () => gathered(parts(), length) }
}

/** Text and small buffers are gathered into writes of this many bytes: each write is a system call for the socket. */
const GATHER_BYTES = 1 << 20
/** A buffer larger than this (a view of the client's payload) goes as it is, never copied. */
const COPIED_BUFFER_BYTES = 64 * 1024

/**
 * The body's `length` bytes, as buffers: base64 text and the JSON around it gathered into writes of
 * GATHER_BYTES (the last one shorter), a large buffer as it is. Encoded a piece at a time (a piece of
 * 64 KiB is an ordinary V8 string, a longer one is not), base64 made a write of its own each piece:
 * 22 system calls for a 1 MiB image where 2 will do.
 */
async function* gathered(parts: Iterable<Buffer | string>, length: number): AsyncIterable<Buffer> {
  let into: Buffer | undefined
  let at = 0
  let left = length
  const full = () => {
    const out = (into as Buffer).subarray(0, at)
    into = undefined
    left -= at
    at = 0
    return out
  }
  for (const part of parts) {
    if (typeof part !== 'string' && part.length > COPIED_BUFFER_BYTES) {
      if (at > 0) yield full()
      left -= part.length
      yield part
      continue
    }
    for (let from = 0; from < part.length;) {
      // What is left of the body, up to GATHER_BYTES; never less than the part needs, whatever `length` said.
      into ??= Buffer.allocUnsafe(Math.min(GATHER_BYTES, Math.max(left, part.length - from)))
      const n = Math.min(part.length - from, into.length - at)
      if (typeof part === 'string') into.write(from === 0 ? part : part.slice(from), at, n, 'latin1')
      else part.copy(into, at, from, from + n)
      at += n
      from += n
      if (at === into.length) yield full()
    }
  }
  if (at > 0) yield full()
}

const QUOTE = Buffer.from('"')

/**
 * The image's base64, a piece at a time: the client's own payload (the request body's bytes, as they
 * are, or sliced from its text), or encoded from the bytes.
 */
function* base64Pieces(image: InlineImage): Generator<Buffer | string> {
  const { base64 } = image
  if (base64 !== undefined) {
    for (let at = 0; at < base64.length; at += PIECE_CHARS) {
      yield typeof base64 === 'string' ? base64.slice(at, at + PIECE_CHARS) : base64.subarray(at, at + PIECE_CHARS)
    }
    return
  }
  // Pulled by the socket, this may still be reading when the request's steps are over: its memory
  // is not given back meanwhile (lib/body-memory.ts).
  const done = readingBodyMemory(image.bytes)
  try {
    for (let at = 0; at < image.bytes.length; at += ENCODE_BYTES) yield image.bytes.subarray(at, at + ENCODE_BYTES).toString('base64')
  } finally {
    done()
  }
}
