import { memoryFor } from './recycled-memory.js'

/**
 * Buffers made of memory of their own, and how many unused bytes lie on either side of each: only
 * memory this module handed out is ever claimed, never a pooled buffer's neighbours or a socket
 * read's other bytes.
 */
const spares = new WeakMap<Buffer, number>()

/**
 * `size` bytes (uninitialised), with `spare` more of the same memory before them and `spare` after,
 * that nothing else uses. With `spare` 0, simply memory of its own (see isOwnMemory). Large memory
 * may be memory an earlier body gave back (recycled-memory.ts), and may run on past the spare room.
 */
export function allocWithSpareRoom(size: number, spare: number): Buffer {
  const total = spare + size + spare
  const buffer = Buffer.from(memoryFor(total), 0, total).subarray(spare, spare + size)
  spares.set(buffer, spare)
  return buffer
}

/** The unused bytes on each side of `buffer`: 0 unless allocWithSpareRoom made it. */
export function spareRoomOf(buffer: Buffer): number {
  return spares.get(buffer) ?? 0
}

/** Whether allocWithSpareRoom made `buffer`: its memory is its alone, shared with no other buffer. */
export function isOwnMemory(buffer: Buffer): boolean {
  return spares.has(buffer)
}
