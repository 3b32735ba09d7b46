import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { bearerToken, digestsEqual, secretDigest } from './bearer.js'

describe('bearerToken', () => {
  it.each([
    ['Bearer sk-abc', 'sk-abc'],
    ['bearer sk-abc', 'sk-abc'],
    ['Bearer   sk-abc  ', 'sk-abc'],
  ])('reads %j', (header, token) => expect(bearerToken(header)).toBe(token))

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic sk-abc', 'Bearer a b', 'sk-abc'])('refuses %j', (header) =>
    expect(bearerToken(header)).toBeUndefined(),
  )
})

describe('secretDigest and digestsEqual', () => {
  it('digests with SHA-256 and compares equal digests as equal, others as not', () => {
    expect(secretDigest('s').equals(createHash('sha256').update('s').digest())).toBe(true)
    expect(digestsEqual(secretDigest('s'), secretDigest('s'))).toBe(true)
    expect(digestsEqual(secretDigest('s'), secretDigest('t'))).toBe(false)
  })

  it('answers false for buffers of different lengths instead of throwing', () => {
    expect(digestsEqual(Buffer.alloc(32), Buffer.alloc(16))).toBe(false)
  })
})
