import { describe, expect, it } from 'vitest'
import { SCAN_SLICE_BYTES, scanJson, scanJsonNow } from './json-scan.js'

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth)
const utf8 = (text: string) => Buffer.from(text, 'utf8')
/** Where the bytes nest deeper than `maxDepth`, if they do: the scan's depth finding alone. */
const findTooDeep = async (bytes: Buffer, maxDepth: number) => (await scanJson(bytes, maxDepth)).tooDeep

describe('scanJson finding JSON nested too deep', () => {
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
    expect(scanJsonNow(utf8(nested(65)), 64)?.tooDeep).toEqual({ depth: 65, path: Array(64).fill(0) })
    expect(scanJsonNow(Buffer.alloc(SCAN_SLICE_BYTES, 0x20), 64)).toEqual({ tooDeep: undefined, longStrings: [] })
    expect(scanJsonNow(Buffer.alloc(SCAN_SLICE_BYTES + 1, 0x20), 64)).toBeUndefined()
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
