/**
 * Every byte of `source`, or `undefined` as soon as more than `maxBytes` have arrived: the rest is
 * never read, and leaving the loop early ends the source (a Node stream is destroyed, a web stream
 * cancelled), so an oversized body is refused without being held. Errors of the source propagate.
 */
/** Bytes copied between two turns of the event loop when the chunks are joined. */
const JOIN_STEP_BYTES = 4 * 1024 * 1024

export async function readCapped(source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of source) {
    size += chunk.byteLength
    if (size > maxBytes) return undefined
    chunks.push(chunk)
  }
  if (size <= JOIN_STEP_BYTES) return Buffer.concat(chunks, size)
  // One Buffer.concat of a 32 MiB body holds the event loop for tens of milliseconds: copy in steps.
  const joined = Buffer.allocUnsafe(size)
  let at = 0
  let sinceTurn = 0
  for (const chunk of chunks) {
    joined.set(chunk, at)
    at += chunk.byteLength
    sinceTurn += chunk.byteLength
    if (sinceTurn >= JOIN_STEP_BYTES && at < size) {
      sinceTurn = 0
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return joined
}
