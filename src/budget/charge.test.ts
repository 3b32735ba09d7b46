import { describe, expect, it } from 'vitest'
import type { Completion } from '../completion/completion.js'
import { chargeFor } from './charge.js'

const used = (cache: Completion['cache'], total?: number): Completion => ({
  outcome: 'completed',
  status: 200,
  cache,
  ...(total === undefined
    ? {}
    : { usage: { usage: { prompt_tokens: 10, completion_tokens: total - 10, total_tokens: total }, source: 'upstream', imageTokens: 0 } }),
})

describe('chargeFor', () => {
  it('charges the total tokens of a request the backend answered', () => {
    expect(chargeFor(used('miss', 70), false)).toBe(70)
  })

  it('charges a cache hit only when hits count toward usage', () => {
    expect(chargeFor(used('hit', 70), false)).toBe(0)
    expect(chargeFor(used('hit', 70), true)).toBe(70)
  })

  it('charges nothing for a request that used nothing', () => {
    expect(chargeFor(used('miss'), true)).toBe(0)
  })
})
