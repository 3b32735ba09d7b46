import { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { dropStream } from './drop-stream.js'
import { allocWithSpareRoom } from './spare-room.js'
import { prematureClose } from './premature-close.js'

/**
 * Bytes copied between two turns of the event loop when the chunks are joined. The copy goes into
 * memory just allocated, so each page faults in as it is first written: 4 MiB took 4.4 ms (7 ms at
 * worst) on the benchmark host, the longest a large body held the event loop in one go; 1 MiB
 * takes about 1.1 ms, in line with the other slices of a large body's work (its scan, its base64
 * check, its hash).
 */
const JOIN_STEP_BYTES = 1024 * 1024

/**
 * A pause in the read: once more than `afterBytes` have arrived, nothing more is read until
 * `until()` settles; if it rejects, the read ends with its error, the rest unread.
 */
export type PauseAt = Readonly<{ afterBytes: number; until(): Promise<void> }>

/**
 * `pause`: see PauseAt. `spareBytes`: a body joined from several chunks gets this many unused bytes
 * on each side (see lib/spare-room.ts), where a new start and end can be written without a copy of
 * the rest; a body of one chunk is used as it came. `ownMemory`: a body joined from several chunks
 * is joined into memory of its own even without spare room, so that it can be given back when its
 * request is over (lib/body-memory.ts). `beforeJoin`: see BeforeJoin.
 */
export type ReadOptions = Readonly<{
  pause?: PauseAt | undefined
  spareBytes?: number
  ownMemory?: boolean
  beforeJoin?: BeforeJoin | undefined
}>

/**
 * A look at a body read in several chunks before they are joined into one: if it throws, the read
 * ends with its error, and the body is never joined (a refused body costs no copy of itself).
 */
export type BeforeJoin = (chunks: readonly Uint8Array[], size: number) => void | Promise<void>

/** Whether the chunk of `chunkBytes` that brought the read to `size` took it past the pause: true for that chunk alone. */
const crossesPause = (pause: PauseAt | undefined, size: number, chunkBytes: number): pause is PauseAt =>
  pause !== undefined && size > pause.afterBytes && size - chunkBytes <= pause.afterBytes

/**
 * Every byte of `source`, or `undefined` as soon as more than `maxBytes` have arrived: the rest is
 * never read, and the source is ended (a Node stream is destroyed, a web stream cancelled; a
 * server's request is left unread, see below), so an oversized body is refused without being held.
 * Errors of the source propagate.
 */
export async function readCapped(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number,
  { pause, spareBytes = 0, ownMemory = spareBytes > 0, beforeJoin }: ReadOptions = {},
): Promise<Buffer | undefined> {
  const read = source instanceof Readable ? await readNodeStream(source, maxBytes, pause) : await readIterable(source, maxBytes, pause)
  if (read && beforeJoin && read.chunks.length > 1) await beforeJoin(read.chunks, read.size)
  if (!read) return undefined
  const spare = ownMemory ? spareBytes : undefined
  return joinNow(read.chunks, read.size, spare) ?? (await join(read.chunks, read.size, spare))
}

type Read = { chunks: Uint8Array[]; size: number }

/**
 * A Node stream (a client's request, a backend's body) read through its events: an async iterator
 * costs a promise and a turn per chunk, and `stream.finished()` a dozen state checks and listeners
 * (together a few microseconds on every request). A close before the end (a reset socket) rejects
 * as both would, with ERR_STREAM_PREMATURE_CLOSE.
 */
function readNodeStream(stream: Readable, maxBytes: number, pause?: PauseAt): Promise<Read | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    if (stream.destroyed || stream.readableEnded) {
      // Its 'close' (or 'end') has been and gone: nothing more will come.
      if (stream.readableEnded) resolve({ chunks, size })
      else reject(stream.errored ?? prematureClose())
      return
    }
    const stopListening = () => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      stream.off('close', onClose)
    }
    const onData = (chunk: Uint8Array) => {
      size += chunk.byteLength
      if (size <= maxBytes) {
        chunks.push(chunk)
        if (crossesPause(pause, size, chunk.byteLength)) {
          // Paused, the stream emits nothing more (not even its end) and the socket is not read.
          stream.pause()
          pause.until().then(
            () => stream.resume(),
            (err: unknown) => {
              stopListening()
              reject(err instanceof Error ? err : new Error(String(err)))
            },
          )
        }
        return
      }
      stopListening()
      resolve(undefined)
      // A server's request is left unread, not destroyed: that would destroy its socket, and the
      // 413 must still go out on it (Node discards the rest of the body once the response is sent).
      if (stream instanceof IncomingMessage) return void stream.pause()
      dropStream(stream)
    }
    const onEnd = () => {
      stopListening()
      resolve({ chunks, size })
    }
    const onError = (err: Error) => {
      stopListening()
      reject(err)
    }
    const onClose = () => {
      stopListening()
      reject(prematureClose())
    }
    stream.on('end', onEnd)
    stream.on('error', onError)
    stream.on('close', onClose)
    stream.on('data', onData)
  })
}

async function readIterable(source: AsyncIterable<Uint8Array>, maxBytes: number, pause?: PauseAt): Promise<Read | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of source) {
    size += chunk.byteLength
    if (size > maxBytes) return undefined
    chunks.push(chunk)
    if (crossesPause(pause, size, chunk.byteLength)) await pause.until()
  }
  return { chunks, size }
}

/** `chunks` as one Buffer: a single chunk as it is (no copy), a large body copied in steps (see join). */
export function joinChunks(chunks: readonly Uint8Array[], size: number): Promise<Buffer> {
  return join(chunks, size, undefined)
}

/**
 * `chunks` as one Buffer at once, with no promise, where that is cheap: a single chunk as it is, a
 * small body copied in one go. Undefined when it takes steps (join).
 */
function joinNow(chunks: readonly Uint8Array[], size: number, spare: number | undefined): Buffer | undefined {
  // Most bodies arrive whole in one read: used as they are, not copied (a 60 KB copy costs 8 µs).
  // Each socket read has its own memory, sized to what was read, so nothing else ever writes to it.
  const [only] = chunks
  if (chunks.length === 1 && only) return Buffer.from(only.buffer, only.byteOffset, only.byteLength)
  if (size <= JOIN_STEP_BYTES && (spare === undefined || chunks.length === 0)) return Buffer.concat(chunks, size)
  return undefined
}

/** `spare`: join into memory of its own with this many spare bytes on each side; undefined for any memory. */
async function join(chunks: readonly Uint8Array[], size: number, spare: number | undefined): Promise<Buffer> {
  const now = joinNow(chunks, size, spare)
  if (now) return now
  // One Buffer.concat of a 32 MiB body holds the event loop for tens of milliseconds: copy in steps.
  const joined = spare === undefined ? Buffer.allocUnsafe(size) : allocWithSpareRoom(size, spare)
  let at = 0
  let sinceTurn = 0
  for (const chunk of chunks) {
    joined.set(chunk, at)
    at += chunk.byteLength
    sinceTurn += chunk.byteLength
    if (size > JOIN_STEP_BYTES && sinceTurn >= JOIN_STEP_BYTES && at < size) {
      sinceTurn = 0
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return joined
}
