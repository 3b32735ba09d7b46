import { describe, expect, it } from 'vitest'
import { ChatRequestSchema } from '../validate/chat-request-schema.js'
import { reservationFor } from './reservation.js'

const request = (params: Record<string, unknown>) =>
  ChatRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...params })

describe('reservationFor', () => {
  it('is the prompt plus max_completion_tokens, which wins over max_tokens', () => {
    expect(reservationFor(600, request({ max_completion_tokens: 50, max_tokens: 500 }), 1024)).toBe(650)
  })
  it('falls back to max_tokens, then to the configured default', () => {
    expect(reservationFor(600, request({ max_tokens: 70 }), 1024)).toBe(670)
    expect(reservationFor(600, request({}), 1024)).toBe(1624)
  })
  it('reserves an answer for each of n choices, the prompt once', () => {
    expect(reservationFor(600, request({ max_tokens: 100, n: 3 }), 1024)).toBe(900)
  })
})
