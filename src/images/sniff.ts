// Identify an image by its magic bytes and read its dimensions from the header alone.
//
// Why our own parser instead of npm `image-size`: that package dispatches across ~20 formats and has had
// infinite-loop advisories on crafted input (protocol-notes §5.2). We accept exactly four formats, decide the
// format from magic bytes only (never from a declared Content-Type or data-URL MIME), and every read below is
// bounds-checked, so any input — empty, truncated, hostile — yields a result and never throws.
//
// Dimensions are only needed to enforce pixel limits, so EXIF orientation (which may swap width and height
// on display) is deliberately ignored: a swap changes neither the pixel count nor the long/short side pair.

export type ImageMime = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif'

export type SniffFailure = 'unsupported_format' | 'malformed'

export type SniffResult = { ok: true; mime: ImageMime; width: number; height: number } | { ok: false; reason: SniffFailure }

const UNSUPPORTED: SniffResult = Object.freeze({ ok: false, reason: 'unsupported_format' })
const MALFORMED: SniffResult = Object.freeze({ ok: false, reason: 'malformed' })

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff] as const

export function sniffImage(bytes: Uint8Array): SniffResult {
  if (startsWith(bytes, PNG_SIGNATURE)) return sniffPng(bytes)
  if (startsWith(bytes, JPEG_SIGNATURE)) return sniffJpeg(bytes)
  if (startsWithAscii(bytes, 0, 'GIF87a') || startsWithAscii(bytes, 0, 'GIF89a')) return sniffGif(bytes)
  if (startsWithAscii(bytes, 0, 'RIFF') && startsWithAscii(bytes, 8, 'WEBP')) return sniffWebp(bytes)
  return UNSUPPORTED
}

// --- PNG -------------------------------------------------------------------------------------------------

// Allowed bit depths per colour type (PNG spec §11.2.2); anything else is a corrupt IHDR.
const PNG_BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
}
const PNG_IHDR_END = 33 // signature 8 + length 4 + type 4 + data 13 + CRC 4
const PNG_MAX_DIMENSION = 0x7fffffff // PNG spec: width and height fit in 31 bits

function sniffPng(bytes: Uint8Array): SniffResult {
  // IHDR must be the first chunk and is always 13 bytes long.
  if (bytes.length < PNG_IHDR_END) return MALFORMED
  if (readU32BE(bytes, 8) !== 13 || !startsWithAscii(bytes, 12, 'IHDR')) return MALFORMED
  const width = readU32BE(bytes, 16)
  const height = readU32BE(bytes, 20)
  if (width > PNG_MAX_DIMENSION || height > PNG_MAX_DIMENSION) return MALFORMED
  const bitDepth = bytes[24] ?? 0
  const colourType = bytes[25] ?? -1
  if (!(PNG_BIT_DEPTHS[colourType]?.includes(bitDepth) ?? false)) return MALFORMED
  // compression method 0, filter method 0, interlace 0 (none) or 1 (Adam7)
  if (bytes[26] !== 0 || bytes[27] !== 0 || (bytes[28] !== 0 && bytes[28] !== 1)) return MALFORMED
  return sized('image/png', width, height)
}

// --- JPEG ------------------------------------------------------------------------------------------------

// Start-of-frame markers carry the dimensions. C4 (DHT), C8 (JPG extension) and CC (DAC) share the
// range but are not frames.
const JPEG_SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf])
const JPEG_SOS = 0xda
const JPEG_EOI = 0xd9
const JPEG_TEM = 0x01

function isStandaloneJpegMarker(marker: number): boolean {
  // RSTn (D0–D7), SOI (D8), EOI (D9) and TEM (01) have no length field.
  return marker === JPEG_TEM || (marker >= 0xd0 && marker <= 0xd9)
}

function sniffJpeg(bytes: Uint8Array): SniffResult {
  // Every iteration consumes at least one 0xFF, the marker byte, and for non-standalone markers a
  // length ≥ 2, so `offset` strictly increases and the loop ends within bytes.length iterations.
  let offset = 2
  while (offset < bytes.length) {
    if (bytes[offset] !== 0xff) return MALFORMED
    while (offset < bytes.length && bytes[offset] === 0xff) offset++ // 0xFF fill bytes before a marker
    const marker = bytes[offset]
    if (marker === undefined || marker === 0x00) return MALFORMED // 00 is byte stuffing, only valid in scan data
    offset++
    if (marker === JPEG_EOI) return MALFORMED // image ended without a frame header
    if (isStandaloneJpegMarker(marker)) continue
    if (marker === JPEG_SOS) return MALFORMED // scan data started before any SOF
    if (offset + 2 > bytes.length) return MALFORMED
    const segmentLength = readU16BE(bytes, offset) // counts its own two bytes
    if (segmentLength < 2 || offset + segmentLength > bytes.length) return MALFORMED
    if (JPEG_SOF_MARKERS.has(marker)) return readJpegFrame(bytes, offset, segmentLength)
    offset += segmentLength
  }
  return MALFORMED
}

function readJpegFrame(bytes: Uint8Array, offset: number, segmentLength: number): SniffResult {
  // SOF payload: precision (1), height (2), width (2), component count (1), then 3 bytes per component.
  if (segmentLength < 8) return MALFORMED
  const components = bytes[offset + 7] ?? 0
  if (components === 0 || segmentLength !== 8 + 3 * components) return MALFORMED
  // A zero height is legal JPEG (a later DNL marker supplies it) but useless for limits: refuse it.
  return sized('image/jpeg', readU16BE(bytes, offset + 5), readU16BE(bytes, offset + 3))
}

// --- GIF -------------------------------------------------------------------------------------------------

const GIF_SCREEN_DESCRIPTOR_END = 13 // header 6 + logical screen descriptor 7

function sniffGif(bytes: Uint8Array): SniffResult {
  if (bytes.length < GIF_SCREEN_DESCRIPTOR_END) return MALFORMED
  return sized('image/gif', readU16LE(bytes, 6), readU16LE(bytes, 8))
}

// --- WebP ------------------------------------------------------------------------------------------------

const WEBP_CHUNK_DATA = 20 // RIFF header 12 + first chunk FourCC 4 + chunk size 4

function sniffWebp(bytes: Uint8Array): SniffResult {
  if (bytes.length < WEBP_CHUNK_DATA) return MALFORMED
  const riffSize = readU32LE(bytes, 4) // counts everything after itself, starting with "WEBP"
  const chunkSize = readU32LE(bytes, 16)
  if (riffSize < 4 + 8 + chunkSize) return MALFORMED // first chunk would not fit in the RIFF container
  if (startsWithAscii(bytes, 12, 'VP8 ')) return readVp8(bytes, chunkSize)
  if (startsWithAscii(bytes, 12, 'VP8L')) return readVp8l(bytes, chunkSize)
  if (startsWithAscii(bytes, 12, 'VP8X')) return readVp8x(bytes, chunkSize)
  return MALFORMED // a WebP file must open with one of those three chunks
}

function readVp8(bytes: Uint8Array, chunkSize: number): SniffResult {
  // Frame tag (3 bytes, bit 0 clear = key frame), start code 9D 01 2A, then 14-bit width and height whose
  // top two bits are upscaling hints, not size.
  if (chunkSize < 10 || bytes.length < 30) return MALFORMED
  if (((bytes[20] ?? 1) & 0x01) !== 0) return MALFORMED
  if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) return MALFORMED
  return sized('image/webp', readU16LE(bytes, 26) & 0x3fff, readU16LE(bytes, 28) & 0x3fff)
}

function readVp8l(bytes: Uint8Array, chunkSize: number): SniffResult {
  // Signature 0x2F, then 32 bits LSB-first: width−1 (14), height−1 (14), alpha hint (1), version (3) = 0.
  if (chunkSize < 5 || bytes.length < 25) return MALFORMED
  if (bytes[20] !== 0x2f) return MALFORMED
  const bits = readU32LE(bytes, 21)
  if (bits >>> 29 !== 0) return MALFORMED
  return sized('image/webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1)
}

function readVp8x(bytes: Uint8Array, chunkSize: number): SniffResult {
  // Flags (1) + reserved (3), then canvas width−1 and height−1 as 24-bit little-endian.
  if (chunkSize < 10 || bytes.length < 30) return MALFORMED
  return sized('image/webp', readU24LE(bytes, 24) + 1, readU24LE(bytes, 27) + 1)
}

// --- helpers ---------------------------------------------------------------------------------------------

function sized(mime: ImageMime, width: number, height: number): SniffResult {
  if (width === 0 || height === 0) return MALFORMED
  return { ok: true, mime, width, height }
}

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b)
}

function startsWithAscii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (bytes.length < offset + text.length) return false
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false
  return true
}

// Callers check bounds first; `?? 0` only satisfies noUncheckedIndexedAccess.
const at = (bytes: Uint8Array, i: number): number => bytes[i] ?? 0
const readU16BE = (b: Uint8Array, i: number): number => (at(b, i) << 8) | at(b, i + 1)
const readU16LE = (b: Uint8Array, i: number): number => at(b, i) | (at(b, i + 1) << 8)
const readU24LE = (b: Uint8Array, i: number): number => at(b, i) | (at(b, i + 1) << 8) | (at(b, i + 2) << 16)
// Multiply instead of `<< 24` so values ≥ 2^31 stay positive.
const readU32BE = (b: Uint8Array, i: number): number => at(b, i) * 0x1000000 + ((at(b, i + 1) << 16) | readU16BE(b, i + 2))
const readU32LE = (b: Uint8Array, i: number): number => at(b, i + 3) * 0x1000000 + readU24LE(b, i)
