import { createHash, hash } from 'node:crypto'

/** One-shot: crypto.hash builds no Hash object, half the cost of createHash for the small inputs most calls hash. */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex')
}

/** Bytes hashed per turn of the event loop: about a millisecond of work. */
const SLICE_BYTES = 1 << 21

/** sha256Hex of large bytes (a 20 MiB image), a slice at a time, giving the event loop back in between. */
export async function sha256HexSliced(data: Uint8Array): Promise<string> {
  if (data.length <= SLICE_BYTES) return sha256Hex(data)
  const hash = createHash('sha256')
  for (let at = 0; at < data.length; at += SLICE_BYTES) {
    hash.update(data.subarray(at, at + SLICE_BYTES))
    if (at + SLICE_BYTES < data.length) await new Promise((resolve) => setImmediate(resolve))
  }
  return hash.digest('hex')
}
