// Strict RFC 2397 parsing of base64 `data:` URLs carrying client images.
//
// Only `data:<type>/<subtype>[;attribute=value]*;base64,<data>` is accepted. The data must be canonical
// standard base64: the RFC 4648 §4 alphabet, no whitespace, no URL-safe `-`/`_`, correct `=` padding and zero
// bits after the last byte. Node's Buffer.from(s, 'base64') silently skips junk and tolerates all of those,
// so many different strings would decode to the same bytes, and a string we accept could mean other bytes to
// an upstream that decodes differently. With one accepted spelling per byte sequence, the bytes we hash,
// cache and forward are exactly what the client sent. The scheme, the `base64` token and the media type are
// matched case-insensitively, as RFC 2397 (via RFC 2045) and the WHATWG fetch data-URL parser do.
//
// The declared MIME is reported but never trusted: the image's real type comes from sniffing its bytes.

import { createHash } from 'node:crypto'
import { sha256Hex } from '../lib/sha256.js'
import { sniffImage, type SniffResult } from './sniff.js'

export type DataUrlResult =
  | {
      ok: true
      declaredMime: string
      bytes: Buffer
      /** The payload: canonical, so exactly `bytes` in base64. */
      base64: string
    }
  | { ok: false; reason: string }

// RFC 7230 `token` characters: RFC 2045's token minus `{` and `}`; quoted-string values are not accepted,
// which is what lets the first comma end the header.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}$`)
const PARAMETER = new RegExp(`^${TOKEN}=${TOKEN}$`)
// Media type plus parameters; anything longer is not a real client and only costs regex time.
const MAX_HEADER_LENGTH = 1024

export function parseDataUrl(url: string): DataUrlResult {
  const header = parseDataUrlHeader(url)
  if (!header.ok) return header
  const bytes = decodeCanonicalBase64(header.base64)
  if (!bytes) return fail('invalid base64')
  return { ok: true, declaredMime: header.declaredMime, bytes, base64: header.base64 }
}

/**
 * A data URL checked on the request path: its payload is canonical base64, checked a piece at a
 * time with the event loop given back every slice, and sniffed, but never held decoded. Its bytes
 * are read again, a piece at a time, only if asked for (sha256OfCanonicalBase64); forwarding sends
 * the payload as it came. Decoding each image into a buffer of its own cost a ninth of a 100 KiB
 * image request's CPU, and a fifth of a 1 MiB one's (bench:ab): such a buffer is memory outside
 * V8's heap, and V8 answers that with collections.
 */
export type CheckedDataUrl = {
  ok: true
  declaredMime: string
  /** The payload: the request body's own bytes when the body parse kept it out of `url`. */
  base64: string | Buffer
  byteLength: number
  sniffed: SniffResult
}

/**
 * `payload` is the payload's bytes when the body parse kept them out of `url`, whose own payload is
 * then only a placeholder (see parseJson in lib/json-parse.ts).
 */
export async function checkDataUrlSliced(url: string, payload?: Buffer): Promise<CheckedDataUrl | { ok: false; reason: string }> {
  const header = parseDataUrlHeader(url)
  if (!header.ok) return header
  const base64 = payload ?? header.base64
  let sniffed: SniffResult | undefined
  let firstPieceBytes = 0
  let byteLength = 0
  const canonical = await forEachDecodedPiece(base64, (piece) => {
    // The first piece (48 KiB) holds every header the sniffer reads, bar a JPEG's frame after long metadata.
    if (!sniffed) {
      sniffed = sniffImage(piece)
      firstPieceBytes = piece.length
    }
    byteLength += piece.length
  })
  if (!canonical || !sniffed) return fail('invalid base64')
  // The sniffer judges a prefix as it would the whole image, unless the prefix was too short to judge.
  if (!sniffed.ok && sniffed.reason === 'malformed' && byteLength > firstPieceBytes) {
    sniffed = sniffImage((await decodeCanonicalBase64Sliced(base64)) as Buffer)
  }
  return { ok: true, declaredMime: header.declaredMime, base64, byteLength, sniffed }
}

type Header = { ok: true; declaredMime: string; base64: string } | { ok: false; reason: string }

function parseDataUrlHeader(url: string): Header {
  if (url.slice(0, 5).toLowerCase() !== 'data:') return fail('not a data URL')
  const comma = url.indexOf(',')
  if (comma === -1) return fail('missing comma')
  const header = url.slice(5, comma)
  if (header.length > MAX_HEADER_LENGTH) return fail('media type too long')
  const [mediaType = '', ...parameters] = header.split(';')
  if (!mediaType.includes('/')) return fail('missing media type') // RFC 2397's text/plain default is no image
  if (!MEDIA_TYPE.test(mediaType)) return fail('invalid media type')
  if (parameters.pop()?.toLowerCase() !== 'base64') return fail('not base64-encoded') // `;base64` comes last
  if (!parameters.every((p) => PARAMETER.test(p))) return fail('invalid media type parameter')
  const data = url.slice(comma + 1)
  if (data.length === 0) return fail('empty image data')
  return { ok: true, declaredMime: mediaType.toLowerCase(), base64: data }
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason }
}

/**
 * The bytes of canonical padded base64, or undefined. Node's decoder is lenient (it skips junk and
 * accepts URL-safe characters, missing padding and stray low bits), so decode and encode back: only
 * the one canonical spelling survives the round trip unchanged. Both directions are native code,
 * linear, and several times faster than a JS character loop (and a regex overflows V8's stack on
 * multi-megabyte strings).
 */
export function decodeCanonicalBase64(s: string): Buffer | undefined {
  if (s.length === 0 || s.length % 4 !== 0) return undefined
  const bytes = Buffer.from(s, 'base64')
  return bytes.toString('base64') === s ? bytes : undefined
}

/**
 * Base64 characters checked and decoded at a time: a multiple of 4, and short enough that each piece
 * is an ordinary V8 string. Past about 128 KiB a string goes to the large-object space, and making
 * it costs several times more (a 137 KB base64 string: 300 µs, against 30 µs to decode it).
 */
const PIECE_CHARS = 1 << 16
/** Base64 characters decoded between two turns of the event loop: about a millisecond of work. */
const SLICE_CHARS = 1 << 20

/**
 * decodeCanonicalBase64, a piece at a time, with the event loop given back every slice, so a 20
 * MiB image does not hold every other request for tens of milliseconds.
 */
export async function decodeCanonicalBase64Sliced(s: string | Buffer): Promise<Buffer | undefined> {
  if (s.length <= PIECE_CHARS) return decodeCanonicalBase64(pieceOf(s, 0, s.length))
  const out = Buffer.allocUnsafe((s.length / 4) * 3)
  let written = 0
  const canonical = await forEachDecodedPiece(s, (piece) => {
    written += piece.copy(out, written)
  })
  return canonical ? out.subarray(0, written) : undefined
}

/**
 * SHA-256 (hex) of what canonical base64 decodes to, without holding it decoded; throws if it is
 * not canonical. A payload of one piece (most images) is hashed in one shot, with sha256Hex.
 */
export async function sha256OfCanonicalBase64(s: string | Buffer): Promise<string> {
  const hash = s.length > PIECE_CHARS ? createHash('sha256') : undefined
  let digest: string | undefined
  const canonical = await forEachDecodedPiece(s, (piece) => {
    if (hash) hash.update(piece)
    else digest = sha256Hex(piece)
  })
  digest = hash?.digest('hex') ?? digest
  if (!canonical || digest === undefined) throw new Error('sha256OfCanonicalBase64 was given a payload that is not canonical base64')
  return digest
}

/**
 * Checks canonical base64 a piece at a time and hands each piece's bytes to `visit`, giving the
 * event loop back every slice; false, and no more visits, at the first piece that is not canonical.
 * Pieces are 4-character aligned, so each decodes on its own; padding may only end the last one.
 * `visit` must be done with a piece when it returns: the bytes may be overwritten by the next one.
 */
async function forEachDecodedPiece(s: string | Buffer, visit: (piece: Buffer) => void): Promise<boolean> {
  if (s.length % 4 !== 0) return false
  for (let at = 0; at < s.length; at += PIECE_CHARS) {
    const text = pieceOf(s, at, at + PIECE_CHARS)
    const inner = at + PIECE_CHARS < s.length
    const bytes = decodePiece(text, !inner, typeof s !== 'string')
    if (!bytes) return false
    visit(bytes)
    if (inner && (at + PIECE_CHARS) % SLICE_CHARS === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  return true
}

/** A piece's bytes, or undefined unless canonical. Padding may only end the last piece. */
function decodePiece(text: string, last: boolean, readFromBytes: boolean): Buffer | undefined {
  if (last) return decodeCheckedPiece(text)
  // decodeInnerPiece finds a `=` itself (its decoder stops there); the round trip would let one end the piece.
  if (readFromBytes) return decodeInnerPiece(text)
  return text.includes('=') ? undefined : decodeCheckedPiece(text)
}

const pieceOf = (s: string | Buffer, from: number, to: number) =>
  typeof s === 'string' ? s.slice(from, to) : s.toString('latin1', from, to)

/** Where pieces are decoded: one buffer for the process, as each piece is used before the next is decoded. */
const PIECE_BYTES = Buffer.allocUnsafe((PIECE_CHARS / 4) * 3)

/**
 * Decodes a piece before the last, read from bytes, into PIECE_BYTES; undefined unless it is
 * canonical. Cheaper than the round trip (no decoded copy, no string encoded back), and exact
 * here: Node's decoder skips a character outside the alphabet and stops at `=` (either way fewer bytes
 * come out), and reads `-` and `_` as `+` and `/`; stray low bits can only end the last piece. Bytes
 * only: a character past U+00FF would be read as its low byte.
 */
function decodeInnerPiece(latin1: string): Buffer | undefined {
  if (latin1.includes('-') || latin1.includes('_')) return undefined
  const written = PIECE_BYTES.write(latin1, 0, 'base64')
  return written === (latin1.length / 4) * 3 ? PIECE_BYTES.subarray(0, written) : undefined
}

/**
 * decodeCanonicalBase64's round trip, decoded into PIECE_BYTES: for a piece read as text, and for
 * the last piece, whose padding and low bits only the round trip checks.
 */
function decodeCheckedPiece(text: string): Buffer | undefined {
  const written = PIECE_BYTES.write(text, 0, 'base64')
  return PIECE_BYTES.toString('base64', 0, written) === text ? PIECE_BYTES.subarray(0, written) : undefined
}

export function isCanonicalBase64(s: string): boolean {
  return decodeCanonicalBase64(s) !== undefined
}
