import { describe, expect, it } from 'vitest'
import { decodeLongString, NotUtf8Error, parseJson, safeCut, type BeforeDecode } from './json-parse.js'
import { bytesOutside, scanJson } from './json-scan.js'

const utf8 = (text: string) => Buffer.from(text, 'utf8')

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
