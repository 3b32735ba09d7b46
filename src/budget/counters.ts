import type { Principal } from '../auth/index.js'
import type { BudgetCounter } from '../store/store.js'
import { windowAt } from './windows.js'

/**
 * Counters outlive their window a little, so a request that settles just after the turn (or late,
 * after a store outage: the store's late-settle window) still finds its own.
 */
const SETTLE_GRACE_MS = 20 * 60 * 1000

export type KeyCounters = { counters: BudgetCounter[]; resetsAt: number[] }

/**
 * One counter per budget that applies, named by its scope and owner, window kind and window id.
 * All of a request's counters carry its team as their hash tag (`{team}`), so the one atomic step
 * that reserves against them all also works on a Redis Cluster, where such keys share a slot.
 */
export function budgetCounters(prefix: string, principal: Principal, now: number): KeyCounters {
  const spans = principal.budgets.map((budget) => windowAt(budget.window, now))
  return {
    counters: principal.budgets.map((budget, i) => {
      const span = spans[i] as ReturnType<typeof windowAt>
      return {
        key: `${prefix}budget:{${principal.team}}:${budget.scope}:${budget.name}:${budget.window}:${span.id}`,
        limit: budget.tokens,
        ttlMs: span.endsAt - now + SETTLE_GRACE_MS,
      }
    }),
    resetsAt: spans.map((span) => span.endsAt),
  }
}
