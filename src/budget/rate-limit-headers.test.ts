import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { BudgetCounter } from '../store/store.js'
import { reply } from '../reply/reply.js'
import { openAiDuration, setRateLimitHeaders } from './rate-limit-headers.js'

const NOW = 1_000_000
const counter = (key: string, limit: number): BudgetCounter => ({ key, limit, ttlMs: 60_000 })

/** The rate-limit headers a response gets for these counters, their totals and their resets. */
async function headersFor(counters: BudgetCounter[], totals: number[], resetsAt: number[]) {
  const app = new Hono().get('/', (c) => {
    setRateLimitHeaders(c, counters, totals, resetsAt, NOW)
    return reply(c, 'ok', 200)
  })
  const res = await app.request('/')
  return {
    limit: res.headers.get('x-ratelimit-limit-tokens'),
    remaining: res.headers.get('x-ratelimit-remaining-tokens'),
    reset: res.headers.get('x-ratelimit-reset-tokens'),
  }
}

describe('setRateLimitHeaders', () => {
  it('reports the window with the fewest tokens left when it is listed first', async () => {
    const headers = await headersFor(
      [counter('hour', 5_000), counter('month', 100_000)],
      [4_000, 10_000],
      [NOW + 1_800_000, NOW + 86_400_000],
    )
    expect(headers).toEqual({ limit: '5000', remaining: '1000', reset: '30m0s' })
  })

  it('reports the window with the fewest tokens left when it is listed in the middle', async () => {
    const headers = await headersFor(
      [counter('minute', 100), counter('hour', 5_000), counter('month', 100_000)],
      [10, 4_990, 20_000],
      [NOW + 42_000, NOW + 1_800_000, NOW + 86_400_000],
    )
    expect(headers).toEqual({ limit: '5000', remaining: '10', reset: '30m0s' })
  })

  it('reports the first of two windows with as few tokens left', async () => {
    const headers = await headersFor([counter('minute', 100), counter('hour', 500)], [60, 460], [NOW + 42_000, NOW + 1_800_000])
    expect(headers).toEqual({ limit: '100', remaining: '40', reset: '42s' })
  })

  it('never reports fewer than zero tokens left (usage charged past the limit)', async () => {
    const headers = await headersFor([counter('day', 100)], [130], [NOW + 5_000])
    expect(headers).toEqual({ limit: '100', remaining: '0', reset: '5s' })
  })

  it('counts a counter without a total as unused', async () => {
    const headers = await headersFor([counter('day', 100)], [], [NOW + 5_000])
    expect(headers).toEqual({ limit: '100', remaining: '100', reset: '5s' })
  })

  it('reports a reset of zero when the window’s end is unknown', async () => {
    const headers = await headersFor([counter('day', 100)], [10], [])
    expect(headers).toEqual({ limit: '100', remaining: '90', reset: '0s' })
  })

  it('leaves money budgets out: the headers speak of tokens, even when a usd budget is tighter', async () => {
    const usd = { ...counter('usd', 1_000), unit: 'usd' as const }
    const tokens = { ...counter('tokens', 5_000), unit: 'tokens' as const }
    expect(await headersFor([usd, tokens], [990, 100], [NOW + 1_000, NOW + 2_000])).toEqual({
      limit: '5000',
      remaining: '4900',
      reset: '2s',
    })
    expect(await headersFor([usd], [990], [NOW + 1_000])).toEqual({ limit: null, remaining: null, reset: null })
  })

  it('sets no headers when no budget applies', async () => {
    expect(await headersFor([], [], [])).toEqual({ limit: null, remaining: null, reset: null })
  })
})

describe('openAiDuration', () => {
  it('rounds up to whole seconds and shows only the units needed', () => {
    expect([0, 1, 999, 1_000, 59_001, 60_000, 3_599_999, 3_600_000, 3_723_000, 90_061_000].map(openAiDuration)).toEqual([
      '0s',
      '1s',
      '1s',
      '1s',
      '1m0s',
      '1m0s',
      '1h0m0s',
      '1h0m0s',
      '1h2m3s',
      '25h1m1s',
    ])
  })

  it('reports a time already past as 0s', () => {
    expect(openAiDuration(-5_000)).toBe('0s')
  })
})
