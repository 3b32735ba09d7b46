import type { ScopedBudget } from '../../auth/index.js'
import { budgetCounters } from '../../budget/counters.js'
import { gatewayError } from '../../errors/gateway-error.js'
import { microsToUsd } from '../../lib/usd.js'
import type { BudgetStore } from '../../store/store.js'
import type { BudgetUsage } from './usage-schema.js'

export type UsageReader = Readonly<{ store: Pick<BudgetStore, 'read'>; prefix: string; now: number }>

/**
 * What is used of these budgets in their current windows, read from the same counters the budget
 * step reserves against (named by `budgetCounters`, so the two cannot disagree on which counter is
 * whose), in one store call. All the budgets belong to `team` (its own or its keys'): their
 * counters share the team's hash tag, so the one call also works on a Redis Cluster.
 * The limit is the configured one, not one stored with the counter, so a reloaded limit shows at once.
 */
export async function readBudgetUsage(reader: UsageReader, team: string, budgets: readonly ScopedBudget[]): Promise<BudgetUsage[]> {
  if (budgets.length === 0) return []
  const { counters, resetsAt } = budgetCounters(reader.prefix, { team, budgets }, reader.now)
  let states
  try {
    states = await reader.store.read(counters.map((counter) => counter.key))
  } catch (err) {
    throw gatewayError('budget_unavailable', { cause: err, headers: { 'retry-after': '1' } })
  }
  return counters.map((counter, i) => {
    const state = states[i] ?? { settled: 0, reserved: 0 }
    // Money is counted in micro-dollars and shown in dollars; tokens as they are.
    const shown = counter.unit === 'usd' ? microsToUsd : (n: number) => n
    const budget = budgets[i] as ScopedBudget
    return {
      window: budget.window,
      unit: counter.unit,
      limit: shown(counter.limit),
      used: shown(state.settled),
      reserved: shown(state.reserved),
      remaining: shown(Math.max(0, counter.limit - state.settled - state.reserved)),
      resets_at: Math.floor((resetsAt[i] ?? reader.now) / 1000),
    }
  })
}
