import { describe, expect, it } from 'vitest'
import { scopeBudgets } from '../../auth/index.js'
import { budgetCounters } from '../../budget/counters.js'
import { MemoryStore } from '../../store/memory-store.js'
import { readBudgetUsage } from './budget-usage.js'

const NOW = Date.parse('2026-11-26T12:34:56Z')
const clock = { now: () => NOW }
const budgets = [
  ...scopeBudgets([{ window: 'hour', tokens: 1_000 }], 'key', 'app'),
  ...scopeBudgets([{ window: 'day', usd: 2.5 }], 'team', 'vision'),
]

describe('readBudgetUsage', () => {
  it('shows tokens as counted and micro-dollars as dollars, with each window’s end', async () => {
    const store = new MemoryStore(1024 * 1024, clock)
    const { counters } = budgetCounters('p:', { team: 'vision', budgets }, NOW)
    await store.charge([
      { counter: counters[0]!, amount: 300 },
      { counter: counters[1]!, amount: 1_234_567 },
    ])
    await store.reserve('lease-1', counters, [50, 7], 60_000)
    expect(await readBudgetUsage({ store, prefix: 'p:', now: NOW }, 'vision', budgets)).toEqual([
      {
        window: 'hour',
        unit: 'tokens',
        limit: 1_000,
        used: 300,
        reserved: 50,
        remaining: 650,
        resets_at: Date.parse('2026-11-26T13:00:00Z') / 1000,
      },
      {
        window: 'day',
        unit: 'usd',
        limit: 2.5,
        used: 1.234567,
        reserved: 0.000007,
        remaining: 1.265426,
        resets_at: Date.parse('2026-11-27T00:00:00Z') / 1000,
      },
    ])
  })

  it('never shows a negative remainder: usage past a limit (a lowered limit, charged cache hits) leaves 0', async () => {
    const store = new MemoryStore(1024 * 1024, clock)
    const { counters } = budgetCounters('p:', { team: 'vision', budgets }, NOW)
    await store.charge([{ counter: counters[0]!, amount: 1_200 }])
    const [hour] = await readBudgetUsage({ store, prefix: 'p:', now: NOW }, 'vision', budgets)
    expect(hour).toMatchObject({ limit: 1_000, used: 1_200, remaining: 0 })
  })

  it('asks the store nothing when there are no budgets', async () => {
    const store = { read: () => Promise.reject(new Error('not to be called')) }
    expect(await readBudgetUsage({ store, prefix: 'p:', now: NOW }, 'vision', [])).toEqual([])
  })
})
