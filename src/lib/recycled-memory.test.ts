import { describe, expect, it } from 'vitest'
import { memoryFor, recycle, RECYCLED_MAX_BYTES, RECYCLED_MIN_BYTES, recycledBytes, sizeClass } from './recycled-memory.js'

const MiB = 1024 * 1024

describe('sizeClass', () => {
  it('leaves sizes below RECYCLED_MIN_BYTES as they are: such memory never comes back', () => {
    for (const size of [0, 1, 10, 100 * 1024, RECYCLED_MIN_BYTES - 1]) expect(sizeClass(size)).toBe(size)
  })

  it('rounds larger sizes up by at most 12.5% (6.25% from 1 MiB), to a class other sizes share', () => {
    for (let size = RECYCLED_MIN_BYTES; size < 64 * MiB; size = Math.ceil(size * 1.037) + 7) {
      const bytes = sizeClass(size)
      expect(bytes).toBeGreaterThanOrEqual(size)
      expect(bytes - size).toBeLessThan(size >= MiB ? size / 16 : size / 8)
      expect(bytes % (64 * 1024)).toBe(0)
      expect(sizeClass(bytes)).toBe(bytes)
    }
    expect(sizeClass(RECYCLED_MIN_BYTES)).toBe(RECYCLED_MIN_BYTES)
    // The same image with another request number: one class.
    expect(sizeClass(1_398_836)).toBe(sizeClass(1_398_838))
    expect(sizeClass(1_398_838)).toBe(22 * 64 * 1024)
    expect(sizeClass(20 * MiB + 1)).toBe(21 * MiB)
  })
})

describe('recycled memory', () => {
  it('hands out new memory of the class size when none is kept', () => {
    const memory = memoryFor(MiB + 1)
    expect(memory.byteLength).toBe(sizeClass(MiB + 1))
    expect(memoryFor(1000).byteLength).toBe(1000)
  })

  it('hands memory given back to the next request of its class, the most recent first, and each once', () => {
    const [first, second] = [memoryFor(3 * MiB), memoryFor(3 * MiB)]
    const before = recycledBytes()
    recycle(first)
    recycle(second)
    expect(recycledBytes()).toBe(before + 2 * sizeClass(3 * MiB))
    expect(memoryFor(3 * MiB - 5)).toBe(second)
    expect(memoryFor(3 * MiB)).toBe(first)
    const fresh = memoryFor(3 * MiB)
    expect([first, second]).not.toContain(fresh)
    expect(recycledBytes()).toBe(before)
    // Another class does not get it.
    recycle(fresh)
    expect(memoryFor(5 * MiB)).not.toBe(fresh)
    expect(memoryFor(3 * MiB)).toBe(fresh)
  })

  it('keeps nothing below RECYCLED_MIN_BYTES, of a size no class has, or past RECYCLED_MAX_BYTES', () => {
    const before = recycledBytes()
    recycle(new ArrayBuffer(RECYCLED_MIN_BYTES - 64 * 1024))
    recycle(new ArrayBuffer(MiB + 1))
    expect(recycledBytes()).toBe(before)
    const size = 4 * MiB
    const given: ArrayBuffer[] = []
    for (let i = 0; i < RECYCLED_MAX_BYTES / size + 3; i++) {
      const memory = new ArrayBuffer(size)
      recycle(memory)
      given.push(memory)
      expect(recycledBytes()).toBeLessThanOrEqual(RECYCLED_MAX_BYTES)
    }
    expect(recycledBytes()).toBeGreaterThan(RECYCLED_MAX_BYTES - size)
    // What was kept comes back; what was past the bound was not kept.
    const back = new Set<ArrayBuffer>()
    for (let memory = memoryFor(size); given.includes(memory); memory = memoryFor(size)) back.add(memory)
    expect(back.size).toBeGreaterThan(0)
    expect(back.size).toBeLessThan(given.length)
  })
})
