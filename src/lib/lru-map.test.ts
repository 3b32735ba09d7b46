import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LruMap } from './lru-map.js'

/** The order of use, oldest first, read through the public API alone (emptying a copy). */
function order(lru: LruMap<number>, keys: readonly string[]): string[] {
  const copy = new LruMap<number>()
  const byUse: string[] = []
  // Rebuild by repeatedly taking the oldest from the original, then put everything back in order.
  for (let next = lru.oldest(); next; next = lru.oldest()) {
    byUse.push(next.key)
    copy.set(next.key, next.value)
    lru.delete(next.key)
  }
  for (const key of byUse) lru.set(key, copy.peek(key) ?? Number.NaN)
  expect(byUse.every((key) => keys.includes(key))).toBe(true)
  return byUse
}

describe('LruMap', () => {
  it('keeps entries in order of use: set and touch make a key the newest, peek does not', () => {
    const lru = new LruMap<number>()
    for (const [key, value] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      lru.set(key, value)
    expect(lru.oldest()).toEqual({ key: 'a', value: 1 })
    lru.touch('a')
    expect(lru.oldest()).toEqual({ key: 'b', value: 2 })
    expect(lru.peek('b')).toBe(2)
    expect(lru.oldest()).toEqual({ key: 'b', value: 2 })
    lru.set('b', 20)
    expect(order(lru, ['a', 'b', 'c'])).toEqual(['c', 'a', 'b'])
    expect(lru.peek('b')).toBe(20)
  })

  it('deletes from the oldest end, the newest end and the middle', () => {
    const lru = new LruMap<number>()
    for (const key of ['a', 'b', 'c', 'd', 'e']) lru.set(key, 0)
    expect(lru.delete('a')).toBe(true)
    expect(lru.delete('e')).toBe(true)
    expect(lru.delete('c')).toBe(true)
    expect(lru.delete('c')).toBe(false)
    expect(lru.size).toBe(2)
    expect(order(lru, ['b', 'd'])).toEqual(['b', 'd'])
    lru.delete('b')
    lru.delete('d')
    expect(lru.oldest()).toBeUndefined()
    lru.set('f', 1)
    expect(lru.oldest()).toEqual({ key: 'f', value: 1 })
  })

  it('touching an unknown key or the newest changes nothing; clear empties it', () => {
    const lru = new LruMap<number>()
    lru.set('a', 1)
    lru.set('b', 2)
    lru.touch('zzz')
    lru.touch('b')
    expect(order(lru, ['a', 'b'])).toEqual(['a', 'b'])
    lru.clear()
    expect(lru.size).toBe(0)
    expect(lru.oldest()).toBeUndefined()
    expect(lru.peek('a')).toBeUndefined()
    lru.set('c', 3)
    expect(order(lru, ['c'])).toEqual(['c'])
  })

  it('behaves as a Map re-inserted on every use, for any sequence of operations', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), key, fc.integer()),
      fc.tuple(fc.constant('touch' as const), key),
      fc.tuple(fc.constant('peek' as const), key),
      fc.tuple(fc.constant('delete' as const), key),
      fc.tuple(fc.constant('evict' as const)),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const lru = new LruMap<number>()
        const model = new Map<string, number>()
        for (const [name, k, value] of ops) {
          if (name === 'set') {
            model.delete(k)
            model.set(k, value)
            lru.set(k, value)
          } else if (name === 'touch') {
            const v = model.get(k)
            if (v !== undefined) {
              model.delete(k)
              model.set(k, v)
            }
            lru.touch(k)
          } else if (name === 'peek') {
            expect(lru.peek(k)).toBe(model.get(k))
          } else if (name === 'delete') {
            expect(lru.delete(k)).toBe(model.delete(k))
          } else {
            const [first] = model
            expect(lru.oldest()).toEqual(first && { key: first[0], value: first[1] })
            if (first) {
              model.delete(first[0])
              lru.delete(first[0])
            }
          }
          expect(lru.size).toBe(model.size)
        }
        expect(order(lru, [...model.keys()])).toEqual([...model.keys()])
      }),
    )
  })
})
