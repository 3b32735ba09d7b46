/**
 * Buffers made with unused bytes on either side of them, and how many on each: only memory this
 * module handed out is ever claimed, never a pooled buffer's neighbours or a socket read's other bytes.
 */
const spares = new WeakMap<Buffer, number>()

/** `size` bytes (uninitialised), with `spare` more of the same memory before them and `spare` after, that nothing else uses. */
export function allocWithSpareRoom(size: number, spare: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(spare + size + spare).subarray(spare, spare + size)
  spares.set(buffer, spare)
  return buffer
}

/** The unused bytes on each side of `buffer`: 0 unless allocWithSpareRoom made it. */
export function spareRoomOf(buffer: Buffer): number {
  return spares.get(buffer) ?? 0
}
