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
    expect(secretDigest('s')).toBe(createHash('sha256').update('s').digest('hex'))
    expect(digestsEqual(secretDigest('s'), secretDigest('s'))).toBe(true)
    expect(digestsEqual(secretDigest('s'), secretDigest('t'))).toBe(false)
  })

  it('answers false for digests of different lengths instead of throwing', () => {
    expect(digestsEqual(secretDigest('s'), secretDigest('s').slice(0, 32))).toBe(false)
  })
})
