import { describe, expect, it } from 'vitest'
import {
  bytesOutside,
  decodeLongString,
  findTooDeep,
  NotUtf8Error,
  parseJson,
  safeCut,
  SCAN_SLICE_BYTES,
  scanJson,
  scanJsonNow,
  type BeforeDecode,
} from './json-scan.js'

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth)
const utf8 = (text: string) => Buffer.from(text, 'utf8')

describe('findTooDeep', () => {
  it('accepts JSON nested exactly to the limit, and names the path of the first container past it', async () => {
    expect(await findTooDeep(utf8(nested(64)), 64)).toBeUndefined()
    expect(await findTooDeep(utf8(nested(65)), 64)).toEqual({ depth: 65, path: Array(64).fill(0) })
  })

  it('names keys of several UTF-8 bytes a character in the path (the bytes are scanned before they are decoded)', async () => {
    expect(await findTooDeep(utf8('{"ключ":[{"é":[[1]]}]}'), 3)).toEqual({ depth: 4, path: ['ключ', 0, 'é'] })
  })

  it('names object keys and array indexes on the way down', async () => {
    const text = '{"model":"m","messages":[{"role":"user"},{"role":"user","metadata":{"x":[1,[[2]]]}}]}'
    expect(await findTooDeep(utf8(text), 5)).toEqual({ depth: 6, path: ['messages', 1, 'metadata', 'x', 1] })
    expect(await findTooDeep(utf8(text), 6)).toEqual({ depth: 7, path: ['messages', 1, 'metadata', 'x', 1, 0] })
    expect(await findTooDeep(utf8(text), 7)).toBeUndefined()
  })

  it('does not count brackets, braces or quotes inside strings, escaped quotes included', async () => {
    const text = JSON.stringify({ a: '[[[[{{{{"\\"]]]]', b: ['x\\"[[[', { c: '}}}}' }] })
    expect(await findTooDeep(utf8(text), 3)).toBeUndefined()
    expect(await findTooDeep(utf8(text), 2)).toEqual({ depth: 3, path: ['b', 1] })
    expect(await findTooDeep(utf8(text), 1)).toEqual({ depth: 2, path: ['b'] })
  })

  it('finds depth past a long string (a base64 image) and a long key, and cuts the key in the path', async () => {
    const long = 'k'.repeat(500)
    const text = `{"image":"${'A'.repeat(1 << 21)}","${long}":${nested(3)}}`
    expect(await findTooDeep(utf8(text), 3)).toEqual({ depth: 4, path: [`${'k'.repeat(59)}…`, 0, 0] })
  })

  it('leaves malformed text to the parser', async () => {
    expect(await findTooDeep(utf8('{"a": "never closed'), 1)).toBeUndefined()
    expect(await findTooDeep(utf8(']]]'), 1)).toBeUndefined()
  })

  it('scans a body of thousands of levels without recursing', async () => {
    expect(await findTooDeep(utf8(nested(100_000, '{"a":', '}')), 64)).toMatchObject({ depth: 65 })
  })
})

describe('scanJson a slice at a time, scanJsonNow at once', () => {
  it('scans a small body at once exactly as scanJson does, and refuses one of more than a slice', async () => {
    const texts = [
      '{"model":"m","messages":[{"role":"user"},{"role":"user","metadata":{"x":[1,[[2]]]}}]}',
      JSON.stringify({ a: '[[[[{{{{"\\"]]]]', long: 'x'.repeat(40), b: ['x\\"[[[', { c: '}}}}' }] }),
      '{"a": "never closed',
      '',
    ]
    for (const text of texts) {
      for (const depth of [1, 3, 5, 64]) {
        expect(scanJsonNow(utf8(text), depth, 16)).toEqual(await scanJson(utf8(text), depth, 16))
      }
    }
    expect(scanJsonNow(utf8(nested(65)), 64).tooDeep).toEqual({ depth: 65, path: Array(64).fill(0) })
    expect(scanJsonNow(Buffer.alloc(SCAN_SLICE_BYTES, 0x20), 64)).toEqual({ tooDeep: undefined, longStrings: [] })
    expect(() => scanJsonNow(Buffer.alloc(SCAN_SLICE_BYTES + 1, 0x20), 64)).toThrow(RangeError)
  })

  it('goes on where each slice stopped: after a string, between a comma and its key, between brackets', async () => {
    // A slice stops once it has scanned SCAN_SLICE_BYTES, or at the end of the string it was in;
    // the next scans on from there. The first stops at the end of the image (past its boundary),
    // the second just after the comma before a key, the third between two brackets: each slice has
    // to go on from exactly where, and in exactly the state, the one before it stopped.
    const head = '{"image":"'
    const image = 'A'.repeat(SCAN_SLICE_BYTES - head.length + 3)
    const imageClose = head.length + image.length
    const pad = 'p'.repeat(SCAN_SLICE_BYTES - 10)
    const key = 'k'.repeat(30)
    const before = `${head}${image}","pad":"${pad}","${key}":`
    const text = `${before}${' '.repeat(imageClose + 2 * SCAN_SLICE_BYTES - before.length)}[[[[1]]]]}`
    expect(text.indexOf(`,"${key}`)).toBe(imageClose + SCAN_SLICE_BYTES) // the last byte of the second slice
    expect(text.indexOf('[[')).toBe(imageClose + 2 * SCAN_SLICE_BYTES) // the last byte of the third
    const scan = await scanJson(utf8(text), 4, 1000)
    expect(scan.tooDeep).toEqual({ depth: 5, path: [key, 0, 0, 0] })
    const padOpen = imageClose + '","pad":'.length
    expect(scan.longStrings).toEqual([
      [head.length - 1, imageClose],
      [padOpen, padOpen + pad.length + 1],
    ])
    expect((await scanJson(utf8(text), 5, 1000)).tooDeep).toBeUndefined()
  })

  it('gives the event loop a turn between slices', async () => {
    let turned = false
    setImmediate(() => (turned = true))
    await scanJson(Buffer.alloc(2 * SCAN_SLICE_BYTES, 0x20), 64)
    expect(turned).toBe(true)
  })
})

describe('parseJson with long strings lifted out', () => {
  const parse = async (text: string, over = 8) => {
    const bytes = Buffer.from(text)
    return parseJson(bytes, (await scanJson(bytes, 64, over)).longStrings)
  }

  it('gives exactly what JSON.parse gives, long strings with escapes and unicode included', async () => {
    const value = {
      model: 'm',
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${'QUJD'.repeat(100)}` } }] },
        { role: 'user', content: 'short' },
        { role: 'user', content: 'a long one with "quotes", back\\slashes, a \u0000 NUL, é and 🦙 '.repeat(5) },
      ],
      list: ['x'.repeat(50), 'y', ['z'.repeat(9), { deep: 'w'.repeat(30) }]],
      n: 1.5,
      t: true,
      none: null,
    }
    const text = JSON.stringify(value)
    expect(await parse(text)).toEqual(JSON.parse(text))
    const escapedSlashes = text.replaceAll('/', '\\/') // as PHP's json_encode writes them
    expect(await parse(escapedSlashes)).toEqual(JSON.parse(escapedSlashes))
  })

  it('lifts strings, never keys, and cannot be fooled by a value that looks like its marker', async () => {
    const text = JSON.stringify({ ['k'.repeat(20)]: 'v'.repeat(20), trap: '\u0000abc:0', also: 'v'.repeat(30) })
    expect(await parse(text)).toEqual(JSON.parse(text))
    expect((await scanJson(Buffer.from(text), 64, 15)).longStrings).toHaveLength(2) // the two long values, not the key nor the short trap
    expect(await parse(text, 15)).toEqual(JSON.parse(text))
  })

  it('reports JSON.parse’s own error for malformed text', async () => {
    await expect(parse(`{"a": "${'x'.repeat(20)}", }`)).rejects.toThrow(SyntaxError)
  })
})

describe('long strings decoded a piece at a time', () => {
  it('decodes multi-megabyte strings exactly, whatever falls on a piece boundary', async () => {
    // Each unit is placed so that, repeated past 1 MiB, every kind of split lands on some boundary:
    // inside a 2-, 3- and 4-byte character, inside \uXXXX (a surrogate pair too), after a backslash.
    for (const unit of ['é€🦙ab', 'x\\u00e9\\"q\\\\', '\\ud83e\\udd99 line\\n', 'plain ascii ']) {
      for (const pad of [0, 1, 2, 3, 5]) {
        const raw = Buffer.from('.'.repeat(pad) + unit.repeat(Math.ceil((1 << 20) / unit.length) + 3))
        const value = await decodeLongString(raw)
        expect(value, `${unit} after ${pad}`).toBe(JSON.parse(`"${raw.toString('utf8')}"`))
      }
    }
  })

  it('keeps raw ASCII without escapes as it is, and refuses what JSON.parse refuses in any piece', async () => {
    expect(await decodeLongString(Buffer.from('QUJD'.repeat(300_000)))).toBe('QUJD'.repeat(300_000))
    const dataUrl = `data:image/png;base64,${'QUJD'.repeat(300_000)}`
    expect(await decodeLongString(Buffer.from(dataUrl))).toBe(dataUrl)
    const rawControl = Buffer.from(`${'é\\n'.repeat(400_000)}\u0001end`) // the raw U+0001 lands in the second piece
    await expect(decodeLongString(rawControl)).rejects.toThrow(SyntaxError)
  })

  it('never cuts a character or an escape', () => {
    const at = (text: string, end: number) => safeCut(Buffer.from(text), end)
    expect(at('abcdef', 3)).toBe(3)
    expect(at('ab€cd', 3)).toBe(2) // inside the 3 bytes of €
    expect(at('ab€cd', 4)).toBe(2)
    expect(at('ab€cd', 5)).toBe(5)
    expect(at('ab\\ncd', 3)).toBe(2) // between a backslash and the byte it escapes
    expect(at('ab\\\\cd', 4)).toBe(4) // after an escaped backslash: a whole escape
    expect(at('ab\\\\cd', 3)).toBe(2)
    for (let end = 3; end <= 7; end++) expect(at('ab\\u00e9cd', end), `end ${end}`).toBe(2) // inside \u00e9
    expect(at('ab\\u00e9cd', 8)).toBe(8)
    expect(at('ab\\\\u00e9', 5)).toBe(5) // an escaped backslash, then a plain "u": no escape to protect
    expect(at('abc', 10)).toBe(3)
  })

  it('counts the bytes JSON.parse is given', async () => {
    const bytes = Buffer.from(JSON.stringify({ a: 'x'.repeat(100), b: 'y' }))
    const { longStrings } = await scanJson(bytes, 64, 50)
    expect(bytesOutside(bytes, longStrings)).toBe(bytes.length - 102)
  })
})

describe('parseJson keeping long data URL payloads as bytes', () => {
  const payload = 'QUJD'.repeat(30)
  const dataUrl = `data:image/png;base64,${payload}`
  /** Parsed with the payloads kept where `url` stands; `at` is also told what it saw. */
  const parseKeeping = async (value: unknown) => {
    const bytes = Buffer.from(JSON.stringify(value))
    const payloads = new Map<string, Buffer>()
    const seen: unknown[] = []
    const at = (parsed: unknown) => {
      seen.push(structuredClone(parsed))
      return new Set([(parsed as { url: string }).url])
    }
    const parsed = await parseJson(bytes, (await scanJson(bytes, 64, 50)).longStrings, { keepPayloads: { at, into: payloads } })
    return { parsed: parsed as { url: string; text: string; other?: string }, payloads, seen }
  }

  it('leaves the header and a placeholder in the value, and the payload bytes in the map under it', async () => {
    const { parsed, payloads } = await parseKeeping({ url: dataUrl, text: 'x'.repeat(60) })
    const [header, placeholder = ''] = parsed.url.split(',')
    expect(header).toBe('data:image/png;base64')
    expect(placeholder.startsWith('\u0000') && placeholder.endsWith(':0')).toBe(true)
    expect(payloads.get(parsed.url)?.toString('latin1')).toBe(payload)
    expect(parsed.text).toBe('x'.repeat(60)) // a long string that is not a data URL is decoded
    expect(payloads.size).toBe(1)
  })

  it('decodes a data URL that stands anywhere else, and shows `at` every long string as a placeholder', async () => {
    const { parsed, payloads, seen } = await parseKeeping({ other: dataUrl, url: dataUrl, text: 'short' })
    expect(parsed.other).toBe(dataUrl)
    expect([...payloads.keys()]).toEqual([parsed.url])
    const [view] = seen as Array<{ other: string; url: string; text: string }>
    expect(seen).toHaveLength(1)
    const placeholder = (index: number) => new RegExp(`^${String.fromCharCode(0)}[0-9a-z]+:${index}$`)
    expect(view?.other).toMatch(placeholder(0))
    expect(view?.url).toMatch(placeholder(1))
    expect(view?.text).toBe('short')
  })

  it('keeps nothing without `keepPayloads`, even at an image part', async () => {
    const bytes = Buffer.from(JSON.stringify({ url: dataUrl }))
    expect(await parseJson(bytes, (await scanJson(bytes, 64, 50)).longStrings)).toEqual({ url: dataUrl })
  })

  it('decodes a data URL it cannot keep as bytes: escaped, without a comma, or not a data URL at all', async () => {
    for (const url of [`${dataUrl}\n`, `data:image/png;base64${payload}`, `https://a.example/${payload}`]) {
      const { parsed, payloads } = await parseKeeping({ url })
      expect(parsed.url).toBe(url)
      expect(payloads.size).toBe(0)
    }
  })
})

describe('parseJson refusing invalid UTF-8 in whatever it decodes', () => {
  const BAD = Buffer.from([0xc3, 0x28]) // a lead byte without its continuation
  const LONG = 40
  /** `{"a":"<long>","b":"short","url":"<long data URL>"}`, with BAD put in at `where` (around: in a key before them). */
  const body = (where: 'around' | 'short' | 'long' | 'escaped long' | 'payload' | 'none') => {
    const long = 'x'.repeat(LONG + 10)
    const parts: Array<string | Buffer> = ['{"a":"', long, '","b":"short', '","url":"data:image/png;base64,', 'QUJD'.repeat(20), '"}']
    if (where === 'around') parts.splice(0, 1, '{"k', BAD, '":1,"a":"')
    if (where === 'short') parts.splice(3, 0, BAD)
    if (where === 'long') parts.splice(2, 0, BAD)
    if (where === 'escaped long') parts.splice(2, 0, '\\n', BAD)
    if (where === 'payload') parts.splice(5, 0, BAD, 'QQ')
    return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)))
  }
  const parse = async (bytes: Buffer, keep = true) => {
    const payloads = new Map<string, Buffer>()
    const at = (value: unknown) => new Set([(value as { url: string }).url])
    const { longStrings } = await scanJson(bytes, 64, LONG)
    const value = await parseJson(bytes, longStrings, keep ? { keepPayloads: { at, into: payloads } } : {})
    return { value: value as { a: string; b: string; url: string }, payloads }
  }

  it('refuses a body without long strings, and bytes around, between or inside the long strings', async () => {
    await expect(parseJson(Buffer.concat([Buffer.from('{"a":"'), BAD, Buffer.from('"}')]), [])).rejects.toThrow(NotUtf8Error)
    for (const where of ['around', 'short', 'long', 'escaped long'] as const) {
      await expect(parse(body(where)), where).rejects.toThrow(NotUtf8Error)
    }
  })

  it('refuses a long data URL it decodes, and leaves the bytes of one it keeps to the caller', async () => {
    await expect(parse(body('payload'), false)).rejects.toThrow(NotUtf8Error)
    const { value, payloads } = await parse(body('payload'))
    expect(payloads.get(value.url)?.subarray(80, 82)).toEqual(BAD) // as sent: the image step accepts only base64's alphabet
  })

  it('decodes valid multi-byte text, in long strings and around them, exactly', async () => {
    const { value } = await parse(
      Buffer.from(JSON.stringify({ a: 'é🦙'.repeat(20), b: 'ключ', url: 'data:image/png;base64,' + 'QUJD'.repeat(20) })),
    )
    expect(value.a).toBe('é🦙'.repeat(20))
    expect(value.b).toBe('ключ')
    expect((await parse(body('none'))).value.b).toBe('short')
  })
})

describe('parseJson showing the value to beforeDecode', () => {
  const longText = 'é🦙 "quoted"\n'.repeat(10)
  const raw = JSON.stringify({ short: 'hi', text: longText, url: `data:image/png;base64,${'QUJD'.repeat(30)}` })

  it('before any long string is decoded: each still a placeholder, whose size in the body it is told', async () => {
    const bytes = utf8(raw)
    const seen: Array<[string, number | undefined]> = []
    const beforeDecode: BeforeDecode = (value, longStringBytes) => {
      for (const field of Object.values(value as Record<string, string>)) seen.push([field, longStringBytes(field)])
    }
    const parsed = await parseJson(bytes, (await scanJson(bytes, 64, 50)).longStrings, { beforeDecode })
    expect(parsed).toMatchObject({ short: 'hi', text: longText })
    const [short, text, url] = seen
    expect(short).toEqual(['hi', undefined])
    expect(text?.[0].startsWith('\u0000')).toBe(true)
    expect(text?.[1]).toBe(Buffer.byteLength(JSON.stringify(longText)) - 2) // the bytes between its quotes, escapes as sent
    expect(url?.[0].startsWith('\u0000')).toBe(true)
    expect(url?.[1]).toBe('data:image/png;base64,'.length + 120) // a data URL is told its size too
  })

  it('ends the parse with its refusal, and no long text is decoded', async () => {
    // `\q` is no JSON escape: decoding the text would fail, so a parse that ends with the refusal never decoded it.
    const bytes = utf8(`{"text": "${'x'.repeat(60)}\\q"}`)
    const { longStrings } = await scanJson(bytes, 64, 50)
    await expect(parseJson(bytes, longStrings)).rejects.toThrow(SyntaxError)
    const refusal = new Error('cannot fit')
    await expect(
      parseJson(bytes, longStrings, {
        beforeDecode: () => {
          throw refusal
        },
      }),
    ).rejects.toBe(refusal)
  })
})
