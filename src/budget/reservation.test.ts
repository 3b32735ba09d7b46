import { describe, expect, it } from 'vitest'
import { ChatRequestSchema } from '../validate/chat-request-schema.js'
import { reservationFor, reservedFor } from './reservation.js'

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

describe('reservedFor', () => {
  it('names the parameter the answer part came from, and n only when it multiplies', () => {
    expect(
      [
        request({ max_completion_tokens: 50, max_tokens: 500 }),
        request({ max_completion_tokens: 50, n: 1 }),
        request({ max_completion_tokens: 50, n: 2 }),
        request({ max_tokens: 70, n: 3 }),
        request({ n: 2 }),
      ].map((r) => reservedFor(r, 1024)),
    ).toEqual([
      'its prompt plus its max_completion_tokens',
      'its prompt plus its max_completion_tokens',
      'its prompt plus its max_completion_tokens x n=2',
      'its prompt plus its max_tokens x n=3',
      'its prompt plus 1024 for the answer x n=2, budget.defaultCompletionTokens: the request sets no max_tokens',
    ])
  })

  it('says the gateway set max_tokens itself when it capped the answer', () => {
    expect(reservedFor(request({ max_tokens: 300, n: 2 }), 1024, 300)).toBe(
      'its prompt plus 300 for the answer x n=2; the request sets no max_tokens, so the gateway sends max_tokens 300: budget.defaultCompletionTokens, or what the context window leaves',
    )
  })
})
