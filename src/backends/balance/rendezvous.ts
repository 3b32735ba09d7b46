/**
 * Rendezvous (highest random weight) hashing: every (key, replica) pair gets a pseudo-random score
 * and the key goes to the highest. Adding or removing a replica moves only the keys it wins or
 * held. Weighted as in Schindelhauer and Schomaker's "logarithmic method": score = w / -ln(u).
 */

/** The first 64 bits of a hex digest (a SHA-256), as two 32-bit halves. */
export type HashKey = readonly [high: number, low: number]

export function hashKeyOf(hex: string): HashKey {
  return [Number.parseInt(hex.slice(0, 8), 16) >>> 0, Number.parseInt(hex.slice(8, 16), 16) >>> 0]
}

/** A 32-bit seed for a replica name (FNV-1a). */
export function seedOf(name: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

/** The replica's score for this key: the highest wins. */
export function rendezvousScore(key: HashKey, seed: number, weight: number): number {
  const hash = fmix32(fmix32(key[0] ^ seed) ^ key[1])
  const u = (hash + 0.5) / 4_294_967_296 // in (0, 1), never 0 or 1
  return weight / -Math.log(u)
}

/** MurmurHash3's finaliser: every input bit moves every output bit. */
function fmix32(value: number): number {
  let h = value
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
