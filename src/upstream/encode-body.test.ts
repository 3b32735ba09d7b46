import { describe, expect, it } from 'vitest'
import { bodyText } from '../backends/request-body.js'
import { releaseBodyMemory, watchBodyMemory } from '../lib/body-memory.js'
import { allocWithSpareRoom } from '../lib/spare-room.js'
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

  it.each([
    [true, 'all of it gathered into writes of 1 MiB'],
    [false, 'all of it gathered into writes of 1 MiB'],
    ['as bytes', "the client's payload as it is, the JSON around it gathered"],
  ] as const)('streams a body of several megabytes (base64 %s): %s', async (withBase64, _layout) => {
    const big = Buffer.alloc(3 * 1024 * 1024, 9)
    const body = encodeBody((inline) => ({ text: 'x'.repeat(100), url: inline(image(big, withBase64)) }))
    if (typeof body === 'string' || Buffer.isBuffer(body)) throw new Error('expected a streamed body')
    const sizes: number[] = []
    for await (const chunk of body.chunks()) sizes.push(chunk.length)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(body.length)
    if (withBase64 === 'as bytes') {
      // The JSON and head before the payload, the payload's pieces of 1 MiB as they are, the closing JSON.
      expect(sizes.slice(1, -1)).toEqual([1 << 20, 1 << 20, 1 << 20, 1 << 20])
      expect(sizes[0]).toBeLessThan(200)
    } else {
      expect(sizes.slice(0, -1)).toEqual([1 << 20, 1 << 20, 1 << 20, 1 << 20])
      expect(sizes.at(-1)).toBe(body.length - 4 * (1 << 20))
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

  it("holds a downloaded image's memory while its streamed body reads it, and lets it go once read to the end or stopped", async () => {
    // Two megabytes: the body goes in several writes, the first one out before the image is all encoded.
    const downloaded = () => {
      const bytes = allocWithSpareRoom(2 * 1024 * 1024, 0).fill(7)
      watchBodyMemory(bytes)
      return bytes
    }
    const streamed = (bytes: Buffer) => {
      const body = encodeBody((inline) => ({ url: inline({ mime: 'image/png', bytes }) }))
      if (typeof body === 'string' || Buffer.isBuffer(body)) throw new Error('expected a streamed body')
      return body.chunks()[Symbol.asyncIterator]()
    }
    const readToTheEnd = downloaded()
    const pieces = streamed(readToTheEnd)
    await pieces.next() // the JSON before the image and its first base64: the encoder is reading the image
    expect(releaseBodyMemory(readToTheEnd)).toBe(false)
    while (!(await pieces.next()).done);
    expect(releaseBodyMemory(readToTheEnd)).toBe(true)

    const stopped = downloaded()
    const cut = streamed(stopped)
    await cut.next()
    expect(releaseBodyMemory(stopped)).toBe(false)
    await cut.return?.()
    expect(releaseBodyMemory(stopped)).toBe(true)
  })

  it('is not fooled by client text that looks like a marker', async () => {
    const body = encodeBody((inline) => ({ a: inline(image(Buffer.from('x'), true)), b: 'llava-gateway-inline-0123-0' }))
    expect(JSON.parse(await bodyText(body))).toEqual({ a: 'data:image/png;base64,eA==', b: 'llava-gateway-inline-0123-0' })
  })
})

describe("encodeBody with the client's own body", () => {
  const png = Buffer.alloc(150 * 1024, 9)
  const base64 = png.toString('base64')
  /** The body as a client sends it, and each image's payload as a view of its bytes, as readJsonBody leaves them. */
  const sent = (json: string, spare = 0) => {
    const client = allocWithSpareRoom(Buffer.byteLength(json), spare)
    client.write(json)
    const views: Buffer[] = []
    for (let at = client.indexOf(base64); at >= 0; at = client.indexOf(base64, at + base64.length)) {
      views.push(client.subarray(at, at + base64.length))
    }
    return { client, views }
  }
  const chat = (urls: readonly string[], extra: Record<string, unknown> = {}) => ({
    model: 'm',
    messages: [
      { role: 'user', content: [...urls.map((url) => ({ type: 'image_url', image_url: { url } })), { type: 'text', text: 'hi' }] },
    ],
    ...extra,
  })
  const dataUrl = `data:image/png;base64,${base64}`
  /** Whether the body is the client's buffer itself. (Not `.not.toBe`: passing, it compares the buffers deeply, a byte at a time.) */
  const sentAsIs = (body: unknown, client: Buffer) => body === client
  /** The body the gateway builds from `views`, with the client's bytes offered. */
  const encode = (client: Buffer, views: readonly Buffer[], extra: Record<string, unknown> = {}, mime = 'image/png', model = 'm') => {
    let next = 0
    return encodeBody(
      (inline) => ({
        ...chat(
          views.map(() => inline({ mime, base64: views[next++] as Buffer })),
          extra,
        ),
        model,
      }),
      { bytes: client, payloadViews: views.length },
    )
  }

  it('sends the very bytes the client sent when the body would be them, one image or several', () => {
    for (const urls of [[dataUrl], [dataUrl, dataUrl]]) {
      const { client, views } = sent(JSON.stringify(chat(urls)))
      expect(views).toHaveLength(urls.length)
      expect(encode(client, views)).toBe(client)
    }
  })

  /** Whether the body is a view of the client's memory (its bytes as they are, or with a new front or back written around them). */
  const inClientsMemory = (body: unknown, client: Buffer): body is Buffer => Buffer.isBuffer(body) && body.buffer === client.buffer
  /** Whether it is, starting `shift` bytes after the client's own start. */
  const inClientsMemoryAt = (body: unknown, client: Buffer, shift: number) =>
    inClientsMemory(body, client) && body.byteOffset === client.byteOffset + shift

  it.each([
    // One image: all that differs is before or after it, and is written over the client's own.
    ['written with spaces', JSON.stringify(chat([dataUrl]), null, 1), {}, true, [dataUrl]],
    ['a trailing newline', `${JSON.stringify(chat([dataUrl]))}\n`, {}, true, [dataUrl]],
    ['a parameter after the image with another value', JSON.stringify(chat([dataUrl], { user: 'abc' })), { user: 'abd' }, true, [dataUrl]],
    [
      'text escaped differently',
      JSON.stringify(chat([dataUrl], { user: 'a/b' })).replace('a/b', 'a\\/b'),
      { user: 'a/b' },
      true,
      [dataUrl],
    ],
    // Longer than the client's own, with no spare room to write it in.
    ['keys in another order', JSON.stringify({ messages: chat([dataUrl]).messages, model: 'm' }), {}, false, [dataUrl]],
    ['a field the gateway adds (a budget cap)', JSON.stringify(chat([dataUrl])), { max_tokens: 16 }, false, [dataUrl]],
    // Between two images: only the client's own bytes may be there.
    ['spaces between two images', JSON.stringify(chat([dataUrl, dataUrl]), null, 1), {}, false, [dataUrl, dataUrl]],
  ])('sends exactly the body it builds when the client wrote it differently: %s', async (_name, json, extra, inPlace, urls) => {
    const { client, views } = sent(json)
    const body = encode(client, views, extra)
    expect(sentAsIs(body, client)).toBe(false)
    expect(inClientsMemory(body, client)).toBe(inPlace)
    expect((await bodyText(body)) === JSON.stringify(chat(urls, extra))).toBe(true)
  })

  it('sends the type the gateway sniffed, not the one the client wrote', async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl])))
    // A type of the same length: the body's length alone cannot tell them apart.
    const body = encode(client, views, {}, 'image/gif')
    expect(sentAsIs(body, client)).toBe(false)
    expect((await bodyText(body)) === JSON.stringify(chat([dataUrl.replace('image/png', 'image/gif')]))).toBe(true)
  })

  it('builds the body as usual when the byte after a payload before the last is not its closing quote', async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl, dataUrl])))
    const view = views[0] as Buffer
    client[view.byteOffset - client.byteOffset + view.length] = 0x41
    const body = encode(client, views)
    expect(inClientsMemory(body, client)).toBe(false)
    expect((await bodyText(body)) === JSON.stringify(chat([dataUrl, dataUrl]))).toBe(true)
  })

  it("builds the body as usual when a payload is not a view of the client's bytes at its place", async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl, dataUrl])))
    const [first, second] = views as [Buffer, Buffer]
    // Equal bytes at the same offset, but in memory of their own.
    const copyOf = (view: Buffer) =>
      Buffer.from(client).subarray(view.byteOffset - client.byteOffset, view.byteOffset - client.byteOffset + view.length)
    const [copy, secondCopy] = [copyOf(first), copyOf(second)]
    expect([copy.byteOffset, secondCopy.byteOffset]).toEqual([first.byteOffset, second.byteOffset])
    for (const payloads of [
      [copy, second],
      [first, secondCopy],
      [second, first], // the client's memory, each at the other's place (images reordered)
    ]) {
      const body = encode(client, payloads)
      expect(inClientsMemory(body, client)).toBe(false)
      expect((await bodyText(body)) === client.toString()).toBe(true)
    }
  })

  it("builds the body as usual when a later payload is not the client's bytes at its place", async () => {
    // Two images of the same length, the second named by a view of the first's memory.
    const other = `data:image/png;base64,${Buffer.alloc(png.length, 8).toString('base64')}`
    const json = JSON.stringify(chat([dataUrl, other]))
    const client = Buffer.from(json)
    const at = client.indexOf(base64)
    const first = client.subarray(at, at + base64.length)
    const body = encode(client, [first, first])
    expect(inClientsMemory(body, client)).toBe(false)
    expect((await bodyText(body)) === JSON.stringify(chat([dataUrl, dataUrl]))).toBe(true)
  })

  it("builds the body as usual, and does not throw, when a payload's view runs past the client's bytes", async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl, dataUrl])), 256)
    const [first, second] = views as [Buffer, Buffer]
    new Uint8Array(client.buffer).fill(0x41, client.byteOffset + client.length) // the spare room after the body, set
    // The first payload's view reaches past the end of the client's bytes: no reading of it may run off them.
    const overlong = Buffer.from(client.buffer, first.byteOffset, client.byteOffset + client.length - first.byteOffset + 100)
    const body = encode(client, [overlong, second])
    expect(inClientsMemory(body, client)).toBe(false)
  })

  it('builds the body as usual when the payload is text, not bytes', async () => {
    const { client } = sent(JSON.stringify(chat([dataUrl])))
    const body = encodeBody((inline) => chat([inline({ mime: 'image/png', base64 })]), { bytes: client, payloadViews: 1 })
    expect(sentAsIs(body, client)).toBe(false)
    expect((await bodyText(body)) === client.toString()).toBe(true)
  })

  it("writes the backend's name for the model in front of the client's bytes when the spare room holds it, one image or several", async () => {
    for (const urls of [[dataUrl], [dataUrl, dataUrl]]) {
      const { client, views } = sent(JSON.stringify(chat(urls)), 256)
      const renamed = 'llava-hf/llava-1.5-7b-hf'
      const body = encode(client, views, {}, 'image/png', renamed)
      expect(inClientsMemoryAt(body, client, -(renamed.length - 1))).toBe(true)
      expect((await bodyText(body)) === JSON.stringify({ ...chat(urls), model: renamed })).toBe(true)
      // The images' bytes are untouched: only the JSON before the first one was written.
      expect(views.every((view) => view.toString('latin1') === base64)).toBe(true)
    }
  })

  it("writes a shorter name over the client's own front, with no spare room", async () => {
    const { client, views } = sent(JSON.stringify({ ...chat([dataUrl]), model: 'a-long-name' }))
    const body = encode(client, views, {}, 'image/png', 'n')
    expect(inClientsMemoryAt(body, client, 10)).toBe(true)
    expect((await bodyText(body)) === JSON.stringify({ ...chat([dataUrl]), model: 'n' })).toBe(true)
  })

  it("writes a longer back after the client's bytes when the spare room holds it: usage asked for on a stream", async () => {
    const streamed = { stream: true, stream_options: { include_usage: true } }
    for (const urls of [[dataUrl], [dataUrl, dataUrl]]) {
      const { client, views } = sent(JSON.stringify(chat(urls, { stream: true })), 256)
      const body = encode(client, views, streamed)
      expect(inClientsMemoryAt(body, client, 0)).toBe(true)
      expect((await bodyText(body)) === JSON.stringify(chat(urls, streamed))).toBe(true)
      expect(views.every((view) => view.toString('latin1') === base64)).toBe(true)
    }
  })

  it.each([
    ['before the body (a name 9 bytes longer)', 9, {}, 'abcdefghij', -9],
    ['after the body (`,"max_tokens":16`, 16 bytes more)', 16, { max_tokens: 16 }, 'm', 0],
  ] as const)(
    'uses the spare room %s to its last byte, and copies what one more byte would not fit',
    async (_where, needed, extra, model, shift) => {
      for (const [spare, inPlace] of [
        [needed, true],
        [needed - 1, false],
      ] as const) {
        const { client, views } = sent(JSON.stringify(chat([dataUrl])), spare)
        const body = encode(client, views, extra, 'image/png', model)
        expect(inClientsMemoryAt(body, client, shift)).toBe(inPlace)
        expect((await bodyText(body)) === JSON.stringify({ ...chat([dataUrl], extra), model })).toBe(true)
      }
    },
  )

  it('writes one front and back per client body: the same again are the same bytes, others a copy', async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl])), 256)
    const withBack = encode(client, views, { max_tokens: 16 }, 'image/png', 'backend-a')
    expect(inClientsMemoryAt(withBack, client, -8)).toBe(true)
    const otherBack = encode(client, views, { max_tokens: 32 }, 'image/png', 'backend-a')
    expect(inClientsMemoryAt(otherBack, client, -8)).toBe(false)
    expect((await bodyText(otherBack)) === JSON.stringify({ ...chat([dataUrl], { max_tokens: 32 }), model: 'backend-a' })).toBe(true)
    expect((await bodyText(withBack)) === JSON.stringify({ ...chat([dataUrl], { max_tokens: 16 }), model: 'backend-a' })).toBe(true)
  })

  it('writes one front per client body: the same front again is the same bytes, another is a copy', async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl])), 256)
    const first = encode(client, views, {}, 'image/png', 'backend-a')
    const firstText = await bodyText(first)
    const again = encode(client, views, {}, 'image/png', 'backend-a')
    expect(inClientsMemoryAt(again, client, -8)).toBe(true)
    const other = encode(client, views, {}, 'image/png', 'backend-bb')
    expect(inClientsMemory(other, client)).toBe(false)
    expect((await bodyText(other)) === JSON.stringify({ ...chat([dataUrl]), model: 'backend-bb' })).toBe(true)
    // A failover's body never changes bytes the earlier attempt's body may still be sending.
    expect((await bodyText(first)) === firstText).toBe(true)
    expect(firstText === JSON.stringify({ ...chat([dataUrl]), model: 'backend-a' })).toBe(true)
  })

  it("copies when the client's body holds a payload the backend's body does not carry", async () => {
    const { client, views } = sent(JSON.stringify(chat([dataUrl])), 256)
    const body = encodeBody((inline) => ({ ...chat([inline({ mime: 'image/png', base64: views[0] as Buffer })]), model: 'x' }), {
      bytes: client,
      payloadViews: 2,
    })
    expect(inClientsMemory(body, client)).toBe(false)
    expect((await bodyText(body)) === JSON.stringify({ ...chat([dataUrl]), model: 'x' })).toBe(true)
    expect(client.toString() === JSON.stringify(chat([dataUrl]))).toBe(true)
  })
})
