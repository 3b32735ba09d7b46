import { describe, expect, it } from 'vitest'
import { BoundedMemo } from './bounded-memo.js'
import { retainedBySlices } from '../../test/helpers/full-gc.js'

describe('BoundedMemo', () => {
  it('gives back what was set, and nothing for a key never set', () => {
    const memo = new BoundedMemo<number>(10)
    memo.set('a', 1)
    memo.set('zero', 0)
    expect(memo.get('a')).toBe(1)
    expect(memo.get('zero')).toBe(0)
    expect(memo.get('b')).toBeUndefined()
  })

  it('never holds more than its bound, whatever is set', () => {
    const memo = new BoundedMemo<number>(10)
    for (let i = 0; i < 1_000; i++) {
      memo.set(`k${i}`, i)
      expect(memo.size).toBeLessThanOrEqual(10)
    }
    expect(memo.size).toBeGreaterThanOrEqual(5)
  })

  it('keeps the latest half of its bound at least, and forgets the oldest first', () => {
    const memo = new BoundedMemo<number>(10)
    for (let i = 0; i < 23; i++) memo.set(`k${i}`, i)
    // Generations of 5: k20-k22 young, k15-k19 old, everything before forgotten. (A miss changes
    // nothing, a hit in the young generation neither; one in the old moves the key: checked last.)
    for (let i = 0; i < 15; i++) expect(memo.get(`k${i}`), `k${i}`).toBeUndefined()
    for (let i = 20; i < 23; i++) expect(memo.get(`k${i}`), `k${i}`).toBe(i)
    expect(memo.size).toBe(8)
    expect(memo.get('k15')).toBe(15)
  })

  it('keeps a key that is used: found in the old generation, it moves to the young one', () => {
    const memo = new BoundedMemo<number>(10)
    memo.set('hot', 1)
    for (let i = 0; i < 4; i++) memo.set(`a${i}`, i) // young is full: it becomes the old generation
    expect(memo.get('hot')).toBe(1) // moved back into the young generation
    for (let i = 0; i < 4; i++) memo.set(`b${i}`, i) // young full again: the old one, and its a0-a3, dropped
    expect(memo.get('hot')).toBe(1)
    expect(memo.get('a0')).toBeUndefined()
    expect(memo.size).toBeLessThanOrEqual(10)
  })
  it('keeps copies of its keys, never the larger strings they were cut from', () => {
    const memo = new BoundedMemo<number>(1_000)
    expect(retainedBySlices((slice) => memo.set(slice, 1))).toBeLessThan(4 * 2 ** 20)
  })

  it('keeps a copy of a key it moves to the young generation, not the key it was asked with', () => {
    const memo = new BoundedMemo<number>(80)
    // The very keys retainedBySlices will ask with, set from strings of their own, then made old.
    for (let i = 0; i < 40; i++) memo.set(`${i}:`.padEnd(24, String.fromCharCode(97 + (i % 26))), i)
    expect(retainedBySlices((slice) => expect(memo.get(slice)).toBeDefined())).toBeLessThan(4 * 2 ** 20)
  })
})
