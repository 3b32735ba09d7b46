import { describe, expect, it } from 'vitest'
import { gatewayError } from './gateway-error.js'

const frames = (err: Error) => (err.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at ')).length

describe('gatewayError', () => {
  it('captures no stack for a client error, and keeps one for a server error', () => {
    const limit = Error.stackTraceLimit
    const refused = gatewayError('invalid_request', { message: 'messages[0].content is too long' })
    expect(refused.status).toBe(400)
    expect(refused.message).toBe('messages[0].content is too long')
    expect(frames(refused)).toBe(0)
    const ours = gatewayError('internal')
    expect(ours.status).toBe(500)
    expect(frames(ours)).toBeGreaterThan(0)
    expect(Error.stackTraceLimit).toBe(limit) // put back for every other error
  })
})
