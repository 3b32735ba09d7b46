import { describe, expect, it } from 'vitest'
import type { Completion } from '../completion/completion.js'
import { ChatRequestSchema } from '../validate/chat-request-schema.js'
import { actualCost, microsFor, worstCaseCost } from './cost.js'

const PRICING = { prompt: 0.35, completion: 1.1, image: 0.05 } // USD per million tokens
const request = (params: Record<string, unknown>) =>
  ChatRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...params })
const completed = (usage: { prompt: number; completion: number; image: number }, cache: Completion['cache'] = 'miss'): Completion => ({
  outcome: 'completed',
  status: 200,
  cache,
  usage: {
    usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion },
    source: 'upstream',
    imageTokens: usage.image,
  },
})

describe('microsFor: tokens at a model’s prices, in micro-dollars', () => {
  it('is exact where floating point is not (100 x 1.1 is 110.00000000000001 in doubles)', () => {
    expect(100 * 1.1).not.toBe(110)
    expect(microsFor({ text: 0, image: 0, completion: 100 }, PRICING)).toBe(110)
    expect(microsFor({ text: 1_000_000, image: 0, completion: 0 }, PRICING)).toBe(350_000)
  })

  it('prices text, image and completion tokens apart, and rounds the sum (not each part) up', () => {
    // 10 x 0.35 + 576 x 0.05 + 7 x 1.1 = 3.5 + 28.8 + 7.7 = 40 micro-dollars exactly.
    expect(microsFor({ text: 10, image: 576, completion: 7 }, PRICING)).toBe(40)
    // 1 x 0.35: a third of a micro-dollar is charged as a whole one.
    expect(microsFor({ text: 1, image: 0, completion: 0 }, PRICING)).toBe(1)
  })

  it('charges image tokens at the prompt price when the model gives no image price', () => {
    expect(microsFor({ text: 0, image: 1_000, completion: 0 }, { prompt: 2, completion: 3 })).toBe(2_000)
  })

  it('is nothing for a model without pricing, or with zero prices', () => {
    expect(microsFor({ text: 1_000, image: 576, completion: 1_000 }, undefined)).toBe(0)
    expect(microsFor({ text: 1_000, image: 576, completion: 1_000 }, { prompt: 0, completion: 0 })).toBe(0)
  })
})

describe('worstCaseCost: what a request is reserved at', () => {
  it('is the reserved tokens, and their price: the prompt’s text and images apart, every choice’s longest answer', () => {
    const prompt = { total: 600, imageTokens: 576 }
    const cost = worstCaseCost(prompt, request({ max_tokens: 100, n: 2 }), 1024, PRICING)
    expect(cost.tokens).toBe(800)
    expect(cost.micros).toBe(Math.ceil(24 * 0.35 + 576 * 0.05 + 200 * 1.1)) // 8.4 + 28.8 + 220 = 257.2 → 258
  })

  it('reserves the configured default answer when the request sets no max_tokens', () => {
    expect(worstCaseCost({ total: 10, imageTokens: 0 }, request({}), 1000, PRICING)).toEqual({ tokens: 1010, micros: 1104 }) // 3.5 + 1100
  })
})

describe('actualCost: what a finished request is settled at', () => {
  it('prices what the backend reported, the gateway’s image count taken out of the prompt', () => {
    expect(actualCost(completed({ prompt: 586, completion: 7, image: 576 }), false, PRICING)).toEqual({ tokens: 593, micros: 40 })
  })

  it('counts no more image tokens than the prompt the backend reported', () => {
    expect(actualCost(completed({ prompt: 500, completion: 0, image: 576 }), false, PRICING)).toEqual({ tokens: 500, micros: 25 })
  })

  it('is nothing for a free cache hit or a request that produced nothing, and a charged hit’s full price', () => {
    expect(actualCost(completed({ prompt: 586, completion: 7, image: 576 }, 'hit'), false, PRICING)).toEqual({ tokens: 0, micros: 0 })
    expect(actualCost({ outcome: 'upstream_error', status: 502, cache: 'miss' }, true, PRICING)).toEqual({ tokens: 0, micros: 0 })
    expect(actualCost(completed({ prompt: 586, completion: 7, image: 576 }, 'hit'), true, PRICING)).toEqual({ tokens: 593, micros: 40 })
  })
})
