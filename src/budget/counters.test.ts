import { describe, expect, it } from 'vitest'
import type { Principal } from '../auth/index.js'
import { budgetCounters } from './counters.js'

const NOW = Date.parse('2026-11-26T21:59:30.000Z')
const GRACE_MS = 20 * 60_000

const principal: Principal = {
  keyAlias: 'alice',
  team: 'vision',
  role: 'user',
  models: undefined,
  budgets: [
    { window: 'minute', tokens: 500, scope: 'key', name: 'alice' },
    { window: 'day', tokens: 90_000, scope: 'team', name: 'vision' },
  ],
}

describe('budgetCounters', () => {
  it('names one counter per budget by prefix, team hash tag, scope, owner, window and window id, with its limit', () => {
    const { counters } = budgetCounters('gw:', principal, NOW)
    expect(counters.map(({ key, limit }) => ({ key, limit }))).toEqual([
      { key: 'gw:budget:{vision}:key:alice:minute:20261126T2159', limit: 500 },
      { key: 'gw:budget:{vision}:team:vision:day:20261126', limit: 90_000 },
    ])
  })

  it('keeps each counter until its window ends plus 20 minutes of grace for late settlements', () => {
    const { counters, resetsAt } = budgetCounters('gw:', principal, NOW)
    expect(resetsAt).toEqual([Date.parse('2026-11-26T22:00:00.000Z'), Date.parse('2026-11-27T00:00:00.000Z')])
    expect(counters.map((c) => c.ttlMs)).toEqual([30_000 + GRACE_MS, 2 * 3_600_000 + 30_000 + GRACE_MS])
  })

  it('gives a key without budgets no counters', () => {
    expect(budgetCounters('gw:', { ...principal, budgets: [] }, NOW)).toEqual({ counters: [], resetsAt: [] })
  })

  it('names a money budget apart from a token budget of the same owner and window', () => {
    const both: Principal = {
      ...principal,
      budgets: [
        { window: 'day', tokens: 90_000, scope: 'key', name: 'alice' },
        { window: 'day', usd: 2, scope: 'key', name: 'alice' },
      ],
    }
    const { counters } = budgetCounters('gw:', both, NOW)
    expect(counters.map(({ key, limit, unit }) => ({ key, limit, unit }))).toEqual([
      { key: 'gw:budget:{vision}:key:alice:day:20261126', limit: 90_000, unit: 'tokens' },
      { key: 'gw:budget:{vision}:usd:key:alice:day:20261126', limit: 2_000_000, unit: 'usd' },
    ])
  })
})
