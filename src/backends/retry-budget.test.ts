import { describe, expect, it } from 'vitest'
import { RetryBudget } from './retry-budget.js'

function budget(config: { budgetRatio?: number; minPerWindow?: number } = {}) {
  let now = 0
  const b = new RetryBudget({ budgetRatio: 0.2, budgetWindowMs: 10_000, minPerWindow: 3, ...config }, { now: () => now })
  /** Retries it lets through now, spending each, until it refuses. */
  const drain = () => {
    let n = 0
    while (b.canRetry()) {
      b.spendRetry()
      n += 1
    }
    return n
  }
  return { b, drain, advance: (ms: number) => (now += ms) }
}

describe('RetryBudget', () => {
  it('allows retries up to 20% of the requests in the window', () => {
    const { b, drain } = budget()
    for (let i = 0; i < 100; i++) b.recordRequest()
    expect(drain()).toBe(20)
  })

  it('allows the floor on a quiet backend', () => {
    const { b, drain } = budget()
    b.recordRequest()
    expect(drain()).toBe(3)
  })

  it('forgets requests and retries once they leave the window, slice by slice', () => {
    const { b, drain, advance } = budget({ minPerWindow: 0 })
    for (let i = 0; i < 50; i++) b.recordRequest() // at t = 0
    expect(drain()).toBe(10)
    advance(5_000)
    for (let i = 0; i < 50; i++) b.recordRequest() // at t = 5 s: 100 in the window, 10 retries spent
    expect(drain()).toBe(10)
    advance(5_000) // t = 10 s: the first 50 requests and their 10 retries are out
    expect(drain()).toBe(0) // 50 requests allow 10, and the 10 of t = 5 s are still in
    advance(5_000) // t = 15 s: all out
    for (let i = 0; i < 10; i++) b.recordRequest()
    expect(drain()).toBe(2)
  })

  it('recovers after a long quiet spell', () => {
    const { b, drain, advance } = budget({ minPerWindow: 0 })
    for (let i = 0; i < 10; i++) b.recordRequest()
    expect(drain()).toBe(2)
    advance(3_600_000)
    for (let i = 0; i < 10; i++) b.recordRequest()
    expect(drain()).toBe(2)
  })
})
