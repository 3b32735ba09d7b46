import { describe, it, expect } from 'vitest'
import { createHash } from 'node:crypto'
import { jpeg, png } from '../../test/fixtures/images.js'
import {
  checkDataUrlSliced,
  type CheckedDataUrl,
  decodeCanonicalBase64,
  decodeCanonicalBase64Sliced,
  isCanonicalBase64,
  parseDataUrl,
  sha256OfCanonicalBase64,
} from './data-url.js'

const image = png(4, 3)
const b64 = image.toString('base64')

describe('parseDataUrl: accepted', () => {
  it('decodes a plain image data URL', () => {
    const result = parseDataUrl(`data:image/png;base64,${b64}`)
    expect(result).toEqual({ ok: true, declaredMime: 'image/png', bytes: image, base64: b64 })
  })

  it('reports the declared MIME lowercased and without parameters', () => {
    const result = parseDataUrl(`data:Image/PNG;charset=utf-8;name=cat.png;base64,${b64}`)
    expect(result).toMatchObject({ ok: true, declaredMime: 'image/png' })
  })

  it('matches the scheme and the base64 token case-insensitively', () => {
    expect(parseDataUrl(`DATA:image/jpeg;BASE64,${b64}`)).toMatchObject({ ok: true, declaredMime: 'image/jpeg' })
  })

  it('returns the declared MIME without judging it: sniffing decides the real type', () => {
    expect(parseDataUrl(`data:text/plain;base64,${b64}`)).toMatchObject({ ok: true, declaredMime: 'text/plain' })
  })

  it.each([
    ['one byte', 'QQ==', [0x41]],
    ['two bytes', 'QUI=', [0x41, 0x42]],
    ['three bytes', 'QUJD', [0x41, 0x42, 0x43]],
    ['all 64 alphabet characters', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', null],
  ])('decodes %s', (_name, data, expected) => {
    const result = parseDataUrl(`data:image/gif;base64,${data}`)
    expect(result.ok).toBe(true)
    if (result.ok && expected) expect([...result.bytes]).toEqual(expected)
    if (result.ok) expect(result.bytes.toString('base64')).toBe(data) // what we accept round-trips exactly
  })
})

describe('parseDataUrl: refused', () => {
  it.each([
    ['an http URL', `https://example.com/cat.png`, 'not a data URL'],
    ['an empty string', '', 'not a data URL'],
    ['leading whitespace', ` data:image/png;base64,${b64}`, 'not a data URL'],
    ['no comma', `data:image/png;base64${b64}`, 'missing comma'],
    ['no media type', `data:;base64,${b64}`, 'missing media type'],
    ['nothing before the comma', `data:,${b64}`, 'missing media type'],
    ['a type without subtype', `data:image;base64,${b64}`, 'missing media type'],
    ['an empty subtype', `data:image/;base64,${b64}`, 'invalid media type'],
    ['a space in the media type', `data:image/ png;base64,${b64}`, 'invalid media type'],
    ['two slashes', `data:image/png/x;base64,${b64}`, 'invalid media type'],
    ['an over-long header', `data:image/${'x'.repeat(2000)};base64,${b64}`, 'media type too long'],
    ['percent-encoded data', 'data:image/png,%89PNG', 'not base64-encoded'],
    ['base64 not last', `data:image/png;base64;charset=utf-8,${b64}`, 'not base64-encoded'],
    ['base64 with a value', `data:image/png;base64=yes,${b64}`, 'not base64-encoded'],
    ['a parameter without value', `data:image/png;charset;base64,${b64}`, 'invalid media type parameter'],
    ['a quoted parameter value', `data:image/png;name="a";base64,${b64}`, 'invalid media type parameter'],
    ['an empty payload', 'data:image/png;base64,', 'empty image data'],
  ])('refuses %s', (_name, url, reason) => {
    expect(parseDataUrl(url)).toEqual({ ok: false, reason })
  })

  // Each of these decodes to *something* with Buffer.from(s, 'base64'); we accept one spelling per byte string.
  it.each([
    ['a line break', `${b64.slice(0, 8)}\n${b64.slice(8)}`],
    ['a space', `${b64.slice(0, 8)} ${b64.slice(8)}`],
    ['a trailing newline', `${b64}\n`],
    ['the URL-safe alphabet', '-_-_'],
    ['a percent-encoded character', 'QQ%3D%3D'],
    ['missing padding', 'QQ'],
    ['missing one padding character', 'QUI'],
    ['too much padding', 'QQ==='],
    ['padding in the middle', 'QQ==QUJD'],
    ['padding only', '===='],
    ['three padding characters', 'Q==='],
    ['a length that is not a multiple of 4', 'QUJDR'],
    ['non-zero bits after the last byte (==)', 'QR=='],
    ['non-zero bits after the last byte (=)', 'QUJ='],
    ['a non-ASCII character', 'QUJ\u00e9'],
    ['a character whose code is a valid one plus 256', `QUJ${String.fromCharCode(0x41 + 256)}`],
  ])('refuses base64 with %s', async (_name, data) => {
    expect(parseDataUrl(`data:image/png;base64,${data}`)).toEqual({ ok: false, reason: 'invalid base64' })
    // The request path's check too, whose pieces are decoded into a buffer the process shares.
    expect(await checkDataUrlSliced(`data:image/png;base64,${data}`)).toEqual({ ok: false, reason: 'invalid base64' })
  })
})

describe('isCanonicalBase64', () => {
  it('agrees with a round trip through Buffer on every short string over a small alphabet', () => {
    const alphabet = ['A', 'B', 'Q', '/', '=', '-', ' ']
    const strings = ['']
    for (let length = 1; length <= 4; length++) {
      for (const prefix of strings.filter((s) => s.length === length - 1)) strings.push(...alphabet.map((c) => prefix + c))
    }
    for (const s of strings) {
      const roundTrips = s.length > 0 && Buffer.from(s, 'base64').toString('base64') === s
      expect(isCanonicalBase64(s), JSON.stringify(s)).toBe(roundTrips)
    }
  })

  // No timing assertion (speed lives in benchmarks): the test's own timeout catches a hang, and a
  // regex implementation fails outright with a stack overflow on a string this long.
  it('validates a 20 MB string without the stack overflow a regex hits', () => {
    const big = Buffer.alloc(15_000_000, 0xa5).toString('base64') // 20,000,000 characters
    expect(isCanonicalBase64(big)).toBe(true)
    expect(isCanonicalBase64(`${big.slice(0, -1)}*`)).toBe(false)
    expect(isCanonicalBase64(`*${big.slice(1)}`)).toBe(false)
  })

  it('parses a 20 MB data URL end to end', () => {
    const bytes = Buffer.alloc(15_000_000, 0x5a)
    const result = parseDataUrl(`data:image/webp;base64,${bytes.toString('base64')}`)
    expect(result.ok && result.bytes.equals(bytes)).toBe(true)
  })
})

describe('decodeCanonicalBase64Sliced', () => {
  it('agrees with the one-piece decode on large payloads, valid or not, and gives the loop back', async () => {
    const bytes = Buffer.alloc(3 * (1 << 20) + 7, 0)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff
    const valid = bytes.toString('base64') // crosses four slices, ends in padding
    expect((await decodeCanonicalBase64Sliced(valid))?.equals(bytes)).toBe(true) // Buffer.equals: toEqual walks 3 MB byte by byte
    let turns = 0
    const tick = () => turns++
    setImmediate(tick)
    const decoding = decodeCanonicalBase64Sliced(valid)
    setImmediate(tick)
    await decoding
    expect(turns).toBe(2) // other work ran while it decoded
    const broken = [
      `${valid.slice(0, 1 << 20)}=${valid.slice((1 << 20) + 1)}`, // padding inside an early slice
      `${valid.slice(0, 5)}-${valid.slice(6)}`, // URL-safe alphabet
      valid.slice(0, -1), // length not a multiple of 4
      `${valid.slice(0, (1 << 20) * 2)}\n${valid.slice((1 << 20) * 2 + 1)}`, // whitespace
    ]
    for (const text of broken) {
      expect(decodeCanonicalBase64(text)).toBeUndefined()
      expect(await decodeCanonicalBase64Sliced(text)).toBeUndefined()
    }
  })

  it('decodes a payload read as bytes (the request body) the same, and refuses the same junk in any piece', async () => {
    const bytes = Buffer.alloc(3 * (1 << 16) * 5 + 2)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff
    const valid = bytes.toString('base64') // six pieces, the last one padded
    expect((await decodeCanonicalBase64Sliced(Buffer.from(valid, 'latin1')))?.equals(bytes)).toBe(true)
    const pieceStarts = [0, 1 << 16, 5 << 16]
    for (const start of pieceStarts) {
      for (const [offset, junk] of [
        [0, '-'],
        [7, '_'],
        [100, '='],
        [(1 << 16) - 1, '='],
        [3, '*'],
        [5, '\n'],
        [9, '\u00c1'], // a valid letter's code plus 128
        [11, '\u0000'],
      ] as const) {
        const at = Math.min(start + offset, valid.length - 3)
        const text = `${valid.slice(0, at)}${junk}${valid.slice(at + 1)}`
        expect(decodeCanonicalBase64(text), `${junk} at ${at}`).toBeUndefined()
        expect(await decodeCanonicalBase64Sliced(Buffer.from(text, 'latin1')), `${junk} at ${at}`).toBeUndefined()
      }
    }
  })
})

/** Bytes of one decoded piece (64 KiB of base64): what the sniffer sees first. */
const PIECE_BYTES = 48 * 1024
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
/** `bytes` followed by `padding` bytes of `fill`: an image with a long tail. */
const withTail = (bytes: Buffer, padding: number, fill = 0x5a) => Buffer.concat([bytes, Buffer.alloc(padding, fill)])

describe('checkDataUrlSliced: checked and sniffed, never held decoded', () => {
  it('checks a payload of many pieces read as bytes, sniffs it and gives its size, keeping the payload as it came', async () => {
    const image = withTail(png(80, 60), 5 * PIECE_BYTES + 7)
    const payload = Buffer.from(image.toString('base64'), 'latin1')
    const { base64, ...rest } = (await checkDataUrlSliced('data:image/jpeg;base64,@', payload)) as CheckedDataUrl
    expect(base64).toBe(payload) // the body's own bytes, not a copy (toBe: toEqual would walk them byte by byte)
    expect(rest).toEqual({
      ok: true,
      declaredMime: 'image/jpeg',
      byteLength: image.length,
      sniffed: { ok: true, mime: 'image/png', width: 80, height: 60 },
    })
  })

  it('checks a payload given as text the same way', async () => {
    const image = png(4, 3)
    expect(await checkDataUrlSliced(`data:image/png;base64,${image.toString('base64')}`)).toEqual({
      ok: true,
      declaredMime: 'image/png',
      base64: image.toString('base64'),
      byteLength: image.length,
      sniffed: { ok: true, mime: 'image/png', width: 4, height: 3 },
    })
  })

  it('sniffs a JPEG whose frame header lies past the first piece from all of its bytes', async () => {
    // Two APP1 segments of metadata (about 128 KiB) between SOI and the rest of the file.
    const metadata = Buffer.concat([0, 1].map(() => Buffer.concat([Buffer.from([0xff, 0xe1, 0xff, 0xff]), Buffer.alloc(0xfffd, 0x20)])))
    const photo = jpeg(640, 480)
    const image = Buffer.concat([photo.subarray(0, 2), metadata, photo.subarray(2)])
    const payload = Buffer.from(image.toString('base64'), 'latin1')
    const result = await checkDataUrlSliced('data:image/jpeg;base64,@', payload)
    expect(result.ok && result.sniffed).toEqual({ ok: true, mime: 'image/jpeg', width: 640, height: 480 })
  })

  it('reports a damaged header as damaged, also when the image is longer than the first piece', async () => {
    for (const image of [png(4, 3).subarray(0, 20), withTail(Buffer.from([0xff, 0xd8, 0xff, 0x00]), 3 * PIECE_BYTES)]) {
      const result = await checkDataUrlSliced(`data:image/png;base64,${image.toString('base64')}`)
      expect(result.ok && result.sniffed).toEqual({ ok: false, reason: 'malformed' })
    }
  })

  it('refuses a payload that is not canonical in any piece, before or after the sniffed one', async () => {
    const image = withTail(png(8, 8), 3 * PIECE_BYTES)
    const valid = image.toString('base64')
    for (const at of [10, (1 << 16) + 10, valid.length - 10]) {
      const payload = Buffer.from(`${valid.slice(0, at)}*${valid.slice(at + 1)}`, 'latin1')
      expect(await checkDataUrlSliced('data:image/png;base64,@', payload), `junk at ${at}`).toEqual({ ok: false, reason: 'invalid base64' })
    }
  })
})

describe('sha256OfCanonicalBase64', () => {
  it('hashes what the payload decodes to, as text or as bytes, in one piece or many', async () => {
    const small = png(4, 3)
    expect(await sha256OfCanonicalBase64(small.toString('base64'))).toBe(sha256(small))
    const large = withTail(png(8, 8), 3 * (1 << 20) + 5) // crosses several slices, ends in padding
    expect(await sha256OfCanonicalBase64(Buffer.from(large.toString('base64'), 'latin1'))).toBe(sha256(large))
  })

  it('gives each of several payloads hashed at once its own digest (their pieces share one buffer)', async () => {
    const images = [1, 2, 3].map((n) => withTail(Buffer.alloc(n, n), 2 * (1 << 20) + n * 1000, n))
    const digests = await Promise.all(images.map((image) => sha256OfCanonicalBase64(Buffer.from(image.toString('base64'), 'latin1'))))
    expect(digests).toEqual(images.map(sha256))
  })

  it('throws on a payload that is not canonical base64 rather than hashing other bytes', async () => {
    await expect(sha256OfCanonicalBase64('QQ')).rejects.toThrow(/not canonical base64/)
    const junk = Buffer.from(`${'QUJD'.repeat(1 << 15)}QU-D${'QUJD'.repeat(10)}`, 'latin1')
    await expect(sha256OfCanonicalBase64(junk)).rejects.toThrow(/not canonical base64/)
  })
})
