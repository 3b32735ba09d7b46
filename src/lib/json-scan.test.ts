import { describe, expect, it } from 'vitest'
import { findTooDeep, parseJson, scanJson } from './json-scan.js'

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth)

describe('findTooDeep', () => {
  it('accepts JSON nested exactly to the limit, and names the path of the first container past it', async () => {
    expect(await findTooDeep(nested(64), 64)).toBeUndefined()
    expect(await findTooDeep(nested(65), 64)).toEqual({ depth: 65, path: Array(64).fill(0) })
  })

  it('names object keys and array indexes on the way down', async () => {
    const text = '{"model":"m","messages":[{"role":"user"},{"role":"user","metadata":{"x":[1,[[2]]]}}]}'
    expect(await findTooDeep(text, 5)).toEqual({ depth: 6, path: ['messages', 1, 'metadata', 'x', 1] })
    expect(await findTooDeep(text, 6)).toEqual({ depth: 7, path: ['messages', 1, 'metadata', 'x', 1, 0] })
    expect(await findTooDeep(text, 7)).toBeUndefined()
  })

  it('does not count brackets, braces or quotes inside strings, escaped quotes included', async () => {
    const text = JSON.stringify({ a: '[[[[{{{{"\\"]]]]', b: ['x\\"[[[', { c: '}}}}' }] })
    expect(await findTooDeep(text, 3)).toBeUndefined()
    expect(await findTooDeep(text, 2)).toEqual({ depth: 3, path: ['b', 1] })
    expect(await findTooDeep(text, 1)).toEqual({ depth: 2, path: ['b'] })
  })

  it('finds depth past a long string (a base64 image) and a long key, and cuts the key in the path', async () => {
    const long = 'k'.repeat(500)
    const text = `{"image":"${'A'.repeat(1 << 21)}","${long}":${nested(3)}}`
    expect(await findTooDeep(text, 3)).toEqual({ depth: 4, path: [`${'k'.repeat(59)}…`, 0, 0] })
  })

  it('leaves malformed text to the parser', async () => {
    expect(await findTooDeep('{"a": "never closed', 1)).toBeUndefined()
    expect(await findTooDeep(']]]', 1)).toBeUndefined()
  })

  it('scans a body of thousands of levels without recursing', async () => {
    expect(await findTooDeep(nested(100_000, '{"a":', '}'), 64)).toMatchObject({ depth: 65 })
  })
})

describe('parseJson with long strings lifted out', () => {
  const parse = async (text: string, over = 8) => parseJson(text, (await scanJson(text, 64, over)).longStrings)

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
    expect((await scanJson(text, 64, 15)).longStrings).toHaveLength(2) // the two long values, not the key nor the short trap
    expect(await parse(text, 15)).toEqual(JSON.parse(text))
  })

  it('reports JSON.parse’s own error for malformed text', async () => {
    await expect(parse(`{"a": "${'x'.repeat(20)}", }`)).rejects.toThrow(SyntaxError)
  })
})
