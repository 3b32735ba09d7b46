import { hash, timingSafeEqual } from 'node:crypto'

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1]
}

/** SHA-256 of a secret: what the gateway keeps and compares instead of the secret itself. */
export function secretDigest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer')
}

/**
 * Digests of equal length compared in constant time: how long it takes says nothing about how
 * much of a guess was right.
 */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
