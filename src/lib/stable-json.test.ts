import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import { stableJson } from './stable-json.js'

/** The first implementation, kept as the reference: cache keys made by earlier versions must still match. */
function reference(value: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined for undefined, functions and symbols
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : reference(item))).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`
}

describe('stableJson: the same strings as ever', () => {
  it('matches the first implementation on any JSON-like value, undefined members included', () => {
    // No sparse arrays: JSON.parse never makes one (the old code wrote their holes as nothing at all).
    const values = fc.anything({ withObjectString: true, withNullPrototype: true, maxDepth: 4 })
    fc.assert(
      fc.property(values, (value) => stableJson(value) === reference(value)),
      { numRuns: 2_000 },
    )
  })
})

describe('stableJson: key order', () => {
  it('gives the same string whatever order the keys were written in, at every depth', () => {
    const a = { b: 1, a: { d: [{ y: 1, x: 2 }], c: { f: true, e: null } } }
    const b = { a: { c: { e: null, f: true }, d: [{ x: 2, y: 1 }] }, b: 1 }
    expect(stableJson(a)).toBe(stableJson(b))
    expect(stableJson(a)).toBe('{"a":{"c":{"e":null,"f":true},"d":[{"x":2,"y":1}]},"b":1}')
  })

  it('sorts keys by code unit, so "B" < "a" < "aa" < "b"', () => {
    expect(stableJson({ b: 0, aa: 0, a: 0, B: 0 })).toBe('{"B":0,"a":0,"aa":0,"b":0}')
  })

  it('writes no insignificant whitespace', () => {
    expect(stableJson({ a: [1, 2], b: { c: 'x y' } })).toBe('{"a":[1,2],"b":{"c":"x y"}}')
  })
})

describe('stableJson: arrays', () => {
  it('keeps array order: different orders give different strings', () => {
    expect(stableJson([3, 1, 2])).toBe('[3,1,2]')
    expect(stableJson([1, 2])).not.toBe(stableJson([2, 1]))
  })

  it('writes undefined items in arrays as null, like JSON.stringify', () => {
    const value = [1, undefined, 'x']
    expect(stableJson(value)).toBe('[1,null,"x"]')
    expect(stableJson(value)).toBe(JSON.stringify(value))
  })

  it('writes empty arrays and objects', () => {
    expect(stableJson({ a: [], b: {} })).toBe('{"a":[],"b":{}}')
  })
})

describe('stableJson: undefined properties', () => {
  it('drops undefined properties at every depth, like JSON.stringify', () => {
    const value = { a: undefined, b: 1, c: { d: undefined, e: [{ f: undefined, g: 2 }] } }
    expect(stableJson(value)).toBe('{"b":1,"c":{"e":[{"g":2}]}}')
    expect(stableJson(value)).toBe(JSON.stringify(value))
  })

  it('makes an absent property and an undefined one equal', () => {
    expect(stableJson({ a: 1, b: undefined })).toBe(stableJson({ a: 1 }))
  })

  it('keeps null properties (null is not absent)', () => {
    expect(stableJson({ a: null })).toBe('{"a":null}')
    expect(stableJson({ a: null })).not.toBe(stableJson({}))
  })
})

describe('stableJson: scalars and escaping', () => {
  it.each([
    ['integer', 42, '42'],
    ['negative float', -1.5, '-1.5'],
    ['zero', 0, '0'],
    ['exponent', 1e21, '1e+21'],
    ['true', true, 'true'],
    ['false', false, 'false'],
    ['null', null, 'null'],
    ['string', 'text', '"text"'],
  ])('writes %s as JSON.stringify does', (_name, value, expected) => {
    expect(stableJson(value)).toBe(expected)
    expect(stableJson(value)).toBe(JSON.stringify(value))
  })

  it('escapes quotes, backslashes, control characters and lone surrogates in values as JSON.stringify does', () => {
    const text = 'say "hi"\\ \n\t\u0001 “é” 🎉 \ud800'
    expect(stableJson(text)).toBe(JSON.stringify(text))
    expect(stableJson({ text })).toBe(JSON.stringify({ text }))
  })

  it('escapes keys as JSON.stringify does', () => {
    const value = { 'a"b': 1, 'c\nd': 2, 'é🎉': 3 }
    expect(JSON.parse(stableJson(value))).toEqual(value)
    expect(stableJson({ 'a"b': 1 })).toBe('{"a\\"b":1}')
  })
})

describe('stableJson: round trip', () => {
  it('parses back to a deep-equal value', () => {
    const value = {
      model: 'llava',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is "this"? 🐱' },
            { type: 'image', sha256: 'ab', detail: null },
          ],
        },
      ],
      params: {
        temperature: 0,
        seed: -7,
        stop: ['\n', 'END'],
        logit_bias: { '50256': -100 },
        nested: { deep: { deeper: [true, false, 1.25] } },
      },
    }
    expect(JSON.parse(stableJson(value))).toEqual(value)
  })
})
