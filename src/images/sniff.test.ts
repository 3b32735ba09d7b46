import { crc32, inflateSync } from 'node:zlib'
import { describe, it, expect } from 'vitest'
import { bmp, gif, jpeg, png, pngHeader, webpVp8, webpVp8l, webpVp8x } from '../../test/fixtures/images.js'
import { sniffImage } from './sniff.js'

const ok = (mime: string, width: number, height: number): object => ({ ok: true, mime, width, height })
const MALFORMED = { ok: false, reason: 'malformed' }
const UNSUPPORTED = { ok: false, reason: 'unsupported_format' }

const bytes = (...parts: (string | readonly number[] | Uint8Array)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))))

// A JPEG built segment by segment, for walks the fixture builder would never produce.
const segment = (marker: number, payload: readonly number[]): number[] => [
  0xff,
  marker,
  (payload.length + 2) >> 8,
  (payload.length + 2) & 0xff,
  ...payload,
]
const sof = (marker: number, width: number, height: number): number[] =>
  segment(marker, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0])
const SOI = [0xff, 0xd8]

describe('sniffImage: supported formats', () => {
  it.each([
    ['png', png(13, 7), 'image/png'],
    ['jpeg', jpeg(13, 7), 'image/jpeg'],
    ['gif', gif(13, 7), 'image/gif'],
    ['webp VP8', webpVp8(13, 7), 'image/webp'],
    ['webp VP8L', webpVp8l(13, 7), 'image/webp'],
    ['webp VP8X', webpVp8x(13, 7), 'image/webp'],
  ])('reads %s dimensions', (_name, image, mime) => {
    expect(sniffImage(image)).toEqual(ok(mime, 13, 7))
  })

  it.each([
    ['png', (w: number, h: number) => png(w, h)],
    ['jpeg', jpeg],
    ['gif', (w: number, h: number) => gif(w, h)],
    ['webp VP8', webpVp8],
    ['webp VP8L', webpVp8l],
    ['webp VP8X', webpVp8x],
  ])('reads %s at 1×1 and at an asymmetric size', (_name, build) => {
    expect(sniffImage(build(1, 1))).toMatchObject({ ok: true, width: 1, height: 1 })
    expect(sniffImage(build(300, 2))).toMatchObject({ ok: true, width: 300, height: 2 })
  })

  it('reads each format at its largest header value', () => {
    expect(sniffImage(webpVp8(16383, 16383))).toEqual(ok('image/webp', 16383, 16383))
    expect(sniffImage(webpVp8l(16384, 1))).toEqual(ok('image/webp', 16384, 1))
    expect(sniffImage(pngHeader(0x7fffffff, 1))).toEqual(ok('image/png', 0x7fffffff, 1))
    expect(sniffImage(bytes('GIF87a', [0xff, 0xff, 0xff, 0xff, 0, 0, 0]))).toEqual(ok('image/gif', 65535, 65535))
  })

  it('reports a huge declared PNG as is: limits are enforced elsewhere', () => {
    expect(sniffImage(pngHeader(100_000, 100_000))).toEqual(ok('image/png', 100_000, 100_000))
  })

  it('reads a VP8X canvas wider than any single bitstream allows', () => {
    const header = bytes('RIFF', [22, 0, 0, 0], 'WEBPVP8X', [10, 0, 0, 0], [0, 0, 0, 0], [0x1f, 0x4e, 0], [0x3f, 0x9c, 0])
    expect(sniffImage(header)).toEqual(ok('image/webp', 20000, 40000))
  })

  it('accepts GIF87a as well as GIF89a', () => {
    const gif87 = Buffer.from(gif(5, 6))
    gif87.write('GIF87a', 0, 'latin1')
    expect(sniffImage(gif87)).toEqual(ok('image/gif', 5, 6))
  })

  it('ignores the VP8 scaling bits', () => {
    const image = Buffer.from(webpVp8(100, 50))
    image[27] = (image[27] ?? 0) | 0xc0
    image[29] = (image[29] ?? 0) | 0x40
    expect(sniffImage(image)).toEqual(ok('image/webp', 100, 50))
  })

  it('accepts a plain Uint8Array, not only a Buffer', () => {
    expect(sniffImage(new Uint8Array(png(3, 4)))).toEqual(ok('image/png', 3, 4))
  })
})

describe('sniffImage: JPEG segment walk', () => {
  it.each([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf])('takes SOF marker %i', (marker) => {
    expect(sniffImage(bytes(SOI, sof(marker, 640, 480)))).toEqual(ok('image/jpeg', 640, 480))
  })

  it.each([0xc4, 0xc8, 0xcc])('skips non-frame marker %i in the SOF range', (marker) => {
    expect(sniffImage(bytes(SOI, segment(marker, [1, 2, 3]), sof(0xc0, 10, 20)))).toEqual(ok('image/jpeg', 10, 20))
  })

  it('finds the frame after a large APP1 block, fill bytes and standalone markers', () => {
    const exif = segment(0xe1, [...Buffer.from('Exif\0\0', 'latin1'), ...new Array<number>(60_000).fill(0xff)])
    const walk = bytes(SOI, exif, [0xff, 0xff, 0xff], [0xff, 0xd0, 0xff, 0x01], segment(0xfe, [65, 66]), sof(0xc2, 4000, 3000))
    expect(sniffImage(walk)).toEqual(ok('image/jpeg', 4000, 3000))
  })

  it('is malformed when scan data starts before any frame header', () => {
    expect(sniffImage(bytes(SOI, segment(0xda, [1, 1, 0, 0, 63, 0]), sof(0xc0, 10, 10)))).toEqual(MALFORMED)
  })

  it('is malformed when the image ends (EOI) without a frame header', () => {
    expect(sniffImage(bytes(SOI, segment(0xe0, [0]), [0xff, 0xd9]))).toEqual(MALFORMED)
  })

  it.each([
    ['length 0', bytes(SOI, [0xff, 0xe0, 0x00, 0x00], sof(0xc0, 1, 1))],
    ['length 1', bytes(SOI, [0xff, 0xe0, 0x00, 0x01], sof(0xc0, 1, 1))],
    ['length past the end', bytes(SOI, [0xff, 0xe0, 0xff, 0xff, 1, 2, 3])],
    ['length field cut off', bytes(SOI, [0xff, 0xe0, 0x00])],
    ['only fill bytes', bytes(SOI, [0xff, 0xff, 0xff, 0xff])],
    ['marker 00 (stuffing) outside scan data', bytes(SOI, [0xff, 0x00], sof(0xc0, 1, 1))],
    ['junk where a marker should be', bytes(SOI, segment(0xe0, [0]), [0x12, 0x34], sof(0xc0, 1, 1))],
    ['SOF shorter than its fixed part', bytes(SOI, segment(0xc0, [8, 0, 1, 0, 1]))],
    ['SOF length disagreeing with its component count', bytes(SOI, segment(0xc0, [8, 0, 1, 0, 1, 3, 1, 0x11, 0]))],
    ['SOF with no components', bytes(SOI, segment(0xc0, [8, 0, 1, 0, 1, 0]))],
    ['zero width', bytes(SOI, sof(0xc0, 0, 10))],
    ['zero height (DNL-defined)', bytes(SOI, sof(0xc0, 10, 0))],
    ['nothing after the signature', bytes([0xff, 0xd8, 0xff])],
  ])('is malformed with %s, and returns (a walk that cannot advance would hang the test)', (_name, input) => {
    expect(sniffImage(input)).toEqual(MALFORMED)
  })

  it('walks a megabyte of tiny segments to the frame header', () => {
    const comments = Buffer.alloc(1_000_000)
    for (let i = 0; i < comments.length; i += 4) comments.set([0xff, 0xfe, 0x00, 0x02], i)
    expect(sniffImage(bytes(SOI, comments, sof(0xc0, 7, 9)))).toEqual(ok('image/jpeg', 7, 9))
  })
})

describe('sniffImage: refusals', () => {
  it.each([
    ['empty', Buffer.alloc(0)],
    ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')],
    ['SVG with XML prolog', Buffer.from('<?xml version="1.0"?><svg width="10" height="10"/>')],
    ['BMP', bmp(4, 4)],
    ['text', Buffer.from('hello, world')],
    ['JSON', Buffer.from('{"error":"not an image"}')],
    ['HTML', Buffer.from('<!doctype html><title>404</title>')],
    ['a RIFF file that is not WebP', bytes('RIFF', [36, 0, 0, 0], 'WAVEfmt ', new Array<number>(24).fill(0))],
    ['TIFF', bytes([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0])],
    ['the first two bytes of a JPEG', bytes([0xff, 0xd8])],
    ['a PNG signature prefix', bytes([0x89, 0x50, 0x4e, 0x47])],
    ['GIF with an unknown version', bytes('GIF90a', [1, 0, 1, 0, 0, 0, 0])],
  ])('refuses %s as unsupported_format', (_name, input) => {
    expect(sniffImage(input)).toEqual(UNSUPPORTED)
  })

  it('refuses random bytes without throwing', () => {
    let seed = 42
    const random = (): number => {
      // xorshift32: deterministic, so a failure is reproducible
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return seed & 0xff
    }
    for (let i = 0; i < 200; i++) {
      const input = Buffer.from(Array.from({ length: i * 3 }, random))
      expect(sniffImage(input).ok).toBe(false)
    }
  })

  // [format, image, signature length, header length]: the bytes needed to recognise it, then to size it.
  it.each([
    ['png', png(20, 10), 8, 33],
    ['jpeg', jpeg(20, 10), 3, 2 + 18 + 69 + 13], // SOI, APP0, DQT, SOF0
    ['gif', gif(20, 10), 6, 13],
    ['webp VP8', webpVp8(20, 10), 12, 30],
    ['webp VP8L', webpVp8l(20, 10), 12, 25],
    ['webp VP8X', webpVp8x(20, 10), 12, 30],
  ])('refuses every truncation of %s that cuts into its header', (_name, image, signatureLength, headerLength) => {
    for (let n = 0; n < headerLength; n++) {
      expect(sniffImage(image.subarray(0, n)), `first ${n} bytes`).toEqual(n < signatureLength ? UNSUPPORTED : MALFORMED)
    }
    expect(sniffImage(image.subarray(0, headerLength))).toMatchObject({ ok: true, width: 20, height: 10 })
  })

  it('needs the whole IHDR chunk, CRC included, but no further PNG bytes', () => {
    const image = png(20, 10)
    expect(sniffImage(image.subarray(0, 32))).toEqual(MALFORMED)
    expect(sniffImage(image.subarray(0, 33))).toEqual(ok('image/png', 20, 10))
  })

  it.each([
    ['zero width', pngHeader(1, 1), (b: Buffer) => b.writeUInt32BE(0, 16)],
    ['zero height', pngHeader(1, 1), (b: Buffer) => b.writeUInt32BE(0, 20)],
    ['a width over 2^31−1', pngHeader(1, 1), (b: Buffer) => b.writeUInt32BE(0x80000000, 16)],
    ['a first chunk other than IHDR', pngHeader(1, 1), (b: Buffer) => b.write('IDAT', 12, 'latin1')],
    ['an IHDR length other than 13', pngHeader(1, 1), (b: Buffer) => b.writeUInt32BE(14, 8)],
    ['bit depth 3', pngHeader(1, 1), (b: Buffer) => (b[24] = 3)],
    ['colour type 5', pngHeader(1, 1), (b: Buffer) => (b[25] = 5)],
    ['16-bit palette', pngHeader(1, 1), (b: Buffer) => ((b[24] = 16), (b[25] = 3))],
    ['compression method 1', pngHeader(1, 1), (b: Buffer) => (b[26] = 1)],
    ['interlace method 2', pngHeader(1, 1), (b: Buffer) => (b[28] = 2)],
    ['a GIF of zero width', gif(1, 1), (b: Buffer) => b.writeUInt16LE(0, 6)],
    ['a GIF of zero height', gif(1, 1), (b: Buffer) => b.writeUInt16LE(0, 8)],
    ['a WebP with an unknown first chunk', webpVp8l(1, 1), (b: Buffer) => b.write('ALPH', 12, 'latin1')],
    ['a WebP whose RIFF size cannot hold the chunk', webpVp8l(1, 1), (b: Buffer) => b.writeUInt32LE(12, 4)],
    ['a VP8 inter frame', webpVp8(1, 1), (b: Buffer) => (b[20] = (b[20] ?? 0) | 1)],
    ['a VP8 without its start code', webpVp8(1, 1), (b: Buffer) => (b[23] = 0)],
    ['a VP8 of zero width', webpVp8(1, 1), (b: Buffer) => b.writeUInt16LE(0, 26)],
    ['a VP8 chunk too small for its header', webpVp8(1, 1), (b: Buffer) => b.writeUInt32LE(9, 16)],
    ['a VP8L without its signature', webpVp8l(1, 1), (b: Buffer) => (b[20] = 0x2e)],
    ['a VP8L of version 1', webpVp8l(1, 1), (b: Buffer) => (b[24] = (b[24] ?? 0) | 0x20)],
    ['a VP8X chunk too small for its header', webpVp8x(1, 1), (b: Buffer) => b.writeUInt32LE(9, 16)],
  ])('refuses %s as malformed', (_name, image, corrupt) => {
    const copy = Buffer.from(image)
    corrupt(copy)
    expect(sniffImage(copy)).toEqual(MALFORMED)
  })
})

// The fixtures are meant to be served as real images by other tests, so check they are more than headers.
describe('test/fixtures/images', () => {
  const chunks = (image: Buffer): { type: string; data: Buffer; crcOk: boolean }[] => {
    const found: { type: string; data: Buffer; crcOk: boolean }[] = []
    for (let at = 8; at < image.length;) {
      const length = image.readUInt32BE(at)
      const typeAndData = image.subarray(at + 4, at + 8 + length)
      found.push({
        type: typeAndData.subarray(0, 4).toString('latin1'),
        data: typeAndData.subarray(4),
        crcOk: crc32(typeAndData) === image.readUInt32BE(at + 8 + length),
      })
      at += 12 + length
    }
    return found
  }

  it('png() is a complete PNG: valid CRCs and an IDAT holding every scanline', () => {
    const found = chunks(png(5, 3, [1, 2, 3]))
    expect(found.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND'])
    expect(found.every((c) => c.crcOk)).toBe(true)
    const raw = inflateSync(found[1]?.data ?? Buffer.alloc(0))
    expect(raw).toHaveLength(3 * (1 + 5 * 3))
    expect([...raw.subarray(0, 7)]).toEqual([0, 1, 2, 3, 1, 2, 3])
  })

  it('distinct colours give distinct bytes', () => {
    expect(png(2, 2, [0, 0, 0]).equals(png(2, 2, [0, 0, 1]))).toBe(false)
    expect(gif(2, 2, [0, 0, 0]).equals(gif(2, 2, [0, 0, 1]))).toBe(false)
  })

  it('jpeg() ends with EOI after the scan, and gif() with its trailer', () => {
    expect([...jpeg(9, 9).subarray(-2)]).toEqual([0xff, 0xd9])
    expect(gif(9, 9).at(-1)).toBe(0x3b)
  })

  it('the WebP builders write a RIFF size matching the file', () => {
    for (const image of [webpVp8(3, 3), webpVp8l(3, 3), webpVp8x(3, 3)]) {
      expect(image.readUInt32LE(4)).toBe(image.length - 8)
      expect(image.length % 2).toBe(0)
    }
  })

  it('refuses sizes its format cannot express', () => {
    expect(() => webpVp8(16384, 1)).toThrow(RangeError)
    expect(() => jpeg(0, 1)).toThrow(RangeError)
    expect(() => gif(65536, 1)).toThrow(RangeError)
  })
})
