import { timingSafeEqual } from 'node:crypto'
import { sha256Hex } from './sha256.js'

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1]
}

/**
 * SHA-256 of a secret, in lowercase hex: what the gateway keeps and compares instead of the secret
 * itself. Hex, not a Buffer: Node 20's one-shot hash returns a string in a third of the time.
 */
export function secretDigest(secret: string): string {
  return sha256Hex(secret)
}

/**
 * Digests compared in constant time: how long it takes says nothing about how much of a guess was
 * right. Digests of different lengths are simply unequal.
 */
export function digestsEqual(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'))
}
