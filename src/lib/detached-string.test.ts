import { describe, expect, it } from 'vitest'
import { detached } from './detached-string.js'
import { retainedBySlices } from '../../test/helpers/full-gc.js'

describe('detached', () => {
  it('is the same text', () => {
    for (const text of ['', 'a', 'a word of more than thirteen characters', '▁日本語 🦙', '\ud800']) expect(detached(text)).toBe(text)
  })

  it('keeps only its own characters alive, where a slice keeps the whole string it was cut from', () => {
    expect(retainedBySlices((slice) => slice)).toBeGreaterThan(30 * 2 ** 20) // the 40 MiB the slices point into
    expect(retainedBySlices(detached)).toBeLessThan(4 * 2 ** 20)
  })
})
