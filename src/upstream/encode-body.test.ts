import { describe, expect, it } from 'vitest'
import { bodyText } from '../backends/request-body.js'
import { encodeBody } from './encode-body.js'

/** An image as the body builder gets it: its bytes, or its base64 as text or as the request body's bytes. */
const image = (bytes: Buffer, withBase64: boolean | 'as bytes') => ({
  mime: 'image/png',
  bytes,
  ...(withBase64 === 'as bytes' ? { base64: Buffer.from(bytes.toString('base64'), 'latin1') } : {}),
  ...(withBase64 === true ? { base64: bytes.toString('base64') } : {}),
})

describe('encodeBody', () => {
  it('is plain JSON text when nothing is inline', () => {
    expect(encodeBody(() => ({ model: 'm', messages: [] }))).toBe('{"model":"m","messages":[]}')
  })

  it('streams exactly the JSON.stringify of the body with its data URLs, with the exact length up front', async () => {
    const big = Buffer.alloc(3 * (1 << 20) + 5)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
    const small = Buffer.from([1, 2, 3, 4, 5])
    for (const withBase64 of [true, false, 'as bytes'] as const) {
      const images = [image(big, withBase64), image(small, withBase64), image(big, withBase64)]
      const build = (url: (i: (typeof images)[number]) => string) => ({
        model: 'm',
        messages: [{ role: 'user', content: images.map((img) => ({ type: 'image_url', image_url: { url: url(img) } })) }],
        text: 'a "quoted" word',
      })
      const body = encodeBody((inline) => build(inline))
      if (typeof body === 'string') throw new Error('expected a streamed body')
      const expected = JSON.stringify(build((img) => `data:${img.mime};base64,${img.bytes.toString('base64')}`))
      const text = await bodyText(body)
      expect(text.length).toBe(expected.length) // toBe on the whole text would print megabytes on failure
      expect(text === expected).toBe(true)
      expect(body.length).toBe(Buffer.byteLength(expected))
    }
  })

  it.each([true, false, 'as bytes'] as const)(
    'joins a body up to 256 KiB into one buffer (one socket write), and streams a larger one (base64: %s)',
    async (withBase64) => {
      const build = (bytes: Buffer) => (url: (i: ReturnType<typeof image>) => string) => ({
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: url(image(bytes, withBase64)) } }] }],
      })
      const overhead = Buffer.byteLength(JSON.stringify(build(Buffer.alloc(0))(() => 'data:image/png;base64,')))
      // 3 bytes are 4 base64 characters: the largest image whose body still fits 256 KiB, and one more.
      const largest = Buffer.alloc(Math.floor((256 * 1024 - overhead) / 4) * 3, 7)
      for (const [bytes, whole] of [
        [largest, true],
        [Buffer.alloc(largest.length + 3, 7), false],
      ] as const) {
        const body = encodeBody(build(bytes))
        const expected = JSON.stringify(build(bytes)((img) => `data:${img.mime};base64,${img.bytes.toString('base64')}`))
        expect(Buffer.isBuffer(body)).toBe(whole)
        expect((await bodyText(body)) === expected).toBe(true)
      }
    },
  )

  it('is not fooled by client text that looks like a marker', async () => {
    const body = encodeBody((inline) => ({ a: inline(image(Buffer.from('x'), true)), b: 'llava-gateway-inline-0123-0' }))
    expect(JSON.parse(await bodyText(body))).toEqual({ a: 'data:image/png;base64,eA==', b: 'llava-gateway-inline-0123-0' })
  })
})
