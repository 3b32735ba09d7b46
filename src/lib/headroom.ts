/**
 * Buffers made with unused bytes in front of them, and how many: only memory this module handed out
 * is ever claimed, never a pooled buffer's neighbours or a socket read's other bytes.
 */
const headrooms = new WeakMap<Buffer, number>()

/** `size` bytes (uninitialised), with `headroom` more of the same memory before them that nothing else uses. */
export function allocWithHeadroom(size: number, headroom: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(headroom + size).subarray(headroom)
  headrooms.set(buffer, headroom)
  return buffer
}

/** The unused bytes in front of `buffer`: 0 unless allocWithHeadroom made it. */
export function headroomOf(buffer: Buffer): number {
  return headrooms.get(buffer) ?? 0
}
