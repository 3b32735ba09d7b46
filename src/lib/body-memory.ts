import { subscribe } from 'node:diagnostics_channel'
import { recycle, RECYCLED_MIN_BYTES } from './recycled-memory.js'
import { isOwnMemory } from './spare-room.js'

// A request body joined from several chunks is memory outside V8's heap. Under load it lives long
// enough (tens of milliseconds) to be promoted with its request's objects, and promoted memory is
// freed only by a full mark-compact collection, which V8 starts whenever 64 MiB of such memory has
// piled up: with 1 MiB images, every 40-odd requests, each collection marking the whole heap. Given
// back when its request is over, the memory goes with the next young-generation collection instead:
// a 1 MiB image request cost a quarter less CPU (pinned A/B, bench/ab.mjs).
//
// Memory given back is kept for the next large body (recycled-memory.ts), so that body allocates
// nothing new.
//
// Giving memory back (detaching its ArrayBuffer) is safe for JavaScript: a view of it reads as empty,
// and making a new view throws. It is not safe for a socket write still in flight, which reads the
// memory from native code. So a body is given back only when every writer it was handed to is
// known and has flushed: undici, given the bytes as one buffer, reports the socket it writes them to
// (its diagnostics channel), and a socket whose writableLength is 0 has called back every write, after
// which Node never reads a chunk again. Memory handed out any other way is pinned, and left to the
// collector. A reader that may still be at work when its request ends (a streamed body's encoder,
// pulled by the socket; a hash, a slice at a time) says so while it reads: memory being read is not
// given back.
//
// The same holds for an image the gateway downloaded: its bytes are read (checked, hashed, encoded
// as base64 for the backend) but never handed to a socket, and are given back the same way.

/** What the body's memory was handed to: how many undici requests, the sockets they were written to, or something unwatched; and how many readers are at work. */
type Handed = { requests: number; sockets: FlushState[]; pinned: boolean; readers: number }
type FlushState = Readonly<{ writableLength: number }>

const watched = new WeakMap<ArrayBufferLike, Handed>()

/**
 * Smaller bodies are left to the collector. Giving one back costs about 10 µs (structuredClone,
 * which detaches), and a 100 KiB body is a six-hundredth of the promoted memory that starts a full
 * collection: such requests cost 10% more CPU with their bodies given back, not less. Memory of
 * this size and up is also what recycled-memory.ts keeps.
 */
export const RELEASED_BODY_BYTES = RECYCLED_MIN_BYTES

function handedOf(view: Uint8Array): Handed | undefined {
  return watched.get(view.buffer)
}

/**
 * Watches a large body the gateway joined into memory of its own (allocWithSpareRoom: nothing else
 * shares it), so it can be given back at its request's end. Any other body is left to the collector.
 */
export function watchBodyMemory(bytes: Buffer): void {
  if (bytes.length < RELEASED_BODY_BYTES || !isOwnMemory(bytes) || watched.has(bytes.buffer)) return
  watched.set(bytes.buffer, { requests: 0, sockets: [], pinned: false, readers: 0 })
}

/** Whether `bytes` is watched: only then is there anything to give back at its request's end. */
export function isBodyMemoryWatched(bytes: Buffer): boolean {
  return watched.has(bytes.buffer)
}

/** `view` goes to undici as a request's whole body: its socket is noted when the request is written. */
export function handToUndici(view: Uint8Array): void {
  const handed = handedOf(view)
  if (handed) handed.requests++
}

/** `view` goes where no write can be watched (a streamed body's piece): its memory is never given back early. */
export function pinBodyMemory(view: Uint8Array): void {
  const handed = handedOf(view)
  if (handed) handed.pinned = true
}

/**
 * `view`'s memory is being read by JavaScript that may outlive its request's steps; call the
 * function returned when done (more calls do nothing). Until then the memory is not given back.
 */
export function readingBodyMemory(view: Uint8Array): () => void {
  const handed = handedOf(view)
  if (!handed) return () => undefined
  handed.readers++
  let reading = true
  return () => {
    if (reading) handed.readers--
    reading = false
  }
}

/**
 * Gives the body's memory back, if it is watched and nothing can still read it: no reader is at
 * work, every undici request it went out with was written, and each socket has flushed. Call it
 * only once the request is over: no step reads the body after that. True when given back.
 */
export function releaseBodyMemory(bytes: Buffer): boolean {
  const handed = handedOf(bytes)
  if (!handed || handed.pinned || handed.readers > 0 || handed.sockets.length < handed.requests) return false
  if (handed.sockets.some((socket) => socket.writableLength > 0)) return false
  const memory = bytes.buffer as ArrayBuffer
  watched.delete(memory)
  // Moved out from under every view of it (they read as empty now), then kept for the next body.
  recycle(structuredClone(memory, { transfer: [memory] }))
  return true
}

/**
 * undici publishes every request it writes, with the socket, just before writing it. Subscribed on
 * import, not wired: a release is safe only if no write escapes this watch.
 */
subscribe('undici:client:sendHeaders', (message) => {
  const { request, socket } = message as { request: { body?: unknown }; socket: FlushState }
  const body = request.body
  if (body instanceof Uint8Array) handedOf(body)?.sockets.push(socket)
})
