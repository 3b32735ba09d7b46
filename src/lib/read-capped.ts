/**
 * Every byte of `source`, or `undefined` as soon as more than `maxBytes` have arrived: the rest is
 * never read, and leaving the loop early ends the source (a Node stream is destroyed, a web stream
 * cancelled), so an oversized body is refused without being held. Errors of the source propagate.
 */
export async function readCapped(source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of source) {
    size += chunk.byteLength
    if (size > maxBytes) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size)
}
