import { describe, expect, it } from 'vitest'
import type { Principal } from '../auth/index.js'
import type { ChatRequest } from '../validate/index.js'
import { budgetExceeded } from './refusal.js'

const principal: Principal = { keyAlias: 'alice', team: 'vision', role: 'user', models: undefined, budgets: [] }
const request = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 } as ChatRequest

describe('budgetExceeded', () => {
  it('names a money budget in dollars: used, limit, this request’s worst cost and why, and the reset', () => {
    const error = budgetExceeded({
      principal,
      budget: { window: 'month', usd: 2, scope: 'team', name: 'vision' },
      used: 1_999_500,
      worst: { tokens: 700, micros: 1_250 },
      request,
      defaultCompletionTokens: 1_024,
      resetsIn: 30,
    })
    expect(error.status).toBe(429)
    expect(error.message).toBe(
      'Team "vision" has used $1.9995 of its $2 this month; this request may cost up to $0.00125 ' +
        "(its prompt plus its max_tokens, at the model's prices). The budget resets in 30 s.",
    )
  })

  it('names a token budget in tokens', () => {
    const error = budgetExceeded({
      principal,
      budget: { window: 'day', tokens: 1_000, scope: 'key', name: 'alice' },
      used: 950,
      worst: { tokens: 120, micros: 0 },
      request,
      defaultCompletionTokens: 1_024,
      resetsIn: 90,
    })
    expect(error.message).toBe(
      'Key "alice" has used 950 of its 1000 tokens this day; this request may need 120 (its prompt plus its max_tokens). The budget resets in 90 s.',
    )
  })
})
