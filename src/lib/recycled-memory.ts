// Memory for large request bodies, used again once a request has given it back.
//
// Each new ArrayBuffer counts against V8's budget of young external memory: once 32 MB of it has
// been allocated, V8 runs a young-generation collection, whatever the heap holds. A 1 MiB image
// request's body used to count as new memory three times over: the socket's chunks, the joined
// body, and the ArrayBuffer its release moves the memory under (body-memory.ts; a move, not a copy,
// but V8 counts it). Kept and handed to the next large body, the joined body is no new allocation,
// so collections come a quarter less often and a 1 MiB image request costs about 8% less CPU
// (pinned A/B, bench/ab.mjs).
//
// Memory comes back only from releaseBodyMemory, which first moves it out of every view that had
// it (a stale view reads as empty), and only once no socket write can still read it. So, like new
// memory, memory handed out again is read by nothing else; and, like new memory, it is
// uninitialised: whoever takes it writes every byte it uses before reading any.

/**
 * The smallest memory kept. Nothing smaller is given back (body-memory.ts RELEASED_BODY_BYTES, where
 * the reason is), so smaller memory is not rounded up to a size class either.
 */
export const RECYCLED_MIN_BYTES = 512 * 1024

/**
 * The most memory kept, in all: a body per connection of a busy image load (32 connections of 1
 * MiB images kept 4 bodies on average, 23 at most, which is this bound), and small beside what those
 * requests hold in flight. Past it, given-back memory is freed as before. Kept memory stays kept
 * while the gateway is idle: this much is the price.
 */
export const RECYCLED_MAX_BYTES = 32 * 1024 * 1024

const SMALLEST_STEP = 64 * 1024

/** Kept memory by size class, the most recently given back last. */
const kept = new Map<number, ArrayBuffer[]>()
let keptBytes = 0

/**
 * The size of memory handed out for `size` bytes: `size` itself below RECYCLED_MIN_BYTES, else
 * rounded up to a step of 64 KiB or a sixteenth of the power of two at or below it, whichever is
 * larger (at most 12.5% more at 512 KiB, 6.25% from 1 MiB). Bodies of about the same size (the
 * same image with another prompt) then share a class, and each other's memory.
 */
export function sizeClass(size: number): number {
  if (size < RECYCLED_MIN_BYTES) return size
  const step = Math.max(SMALLEST_STEP, 2 ** (Math.floor(Math.log2(size)) - 4))
  return Math.ceil(size / step) * step
}

/**
 * Memory of sizeClass(size) bytes that nothing else uses: kept memory of that class when there is
 * some (the most recently given back, likeliest still in the CPU's caches), else new. Uninitialised.
 */
export function memoryFor(size: number): ArrayBuffer {
  const bytes = sizeClass(size)
  const memory = kept.get(bytes)?.pop()
  if (memory) {
    keptBytes -= bytes
    return memory
  }
  return Buffer.allocUnsafeSlow(bytes).buffer
}

/**
 * Keeps `memory` for memoryFor, unless that would pass RECYCLED_MAX_BYTES or its size is no class
 * memoryFor hands out. Only for memory no view and no write can reach any more (releaseBodyMemory's).
 */
export function recycle(memory: ArrayBuffer): void {
  const bytes = memory.byteLength
  if (bytes < RECYCLED_MIN_BYTES || sizeClass(bytes) !== bytes || keptBytes + bytes > RECYCLED_MAX_BYTES) return
  const list = kept.get(bytes)
  if (list) list.push(memory)
  else kept.set(bytes, [memory])
  keptBytes += bytes
}

/** How many bytes are kept now: never more than RECYCLED_MAX_BYTES. */
export function recycledBytes(): number {
  return keptBytes
}
