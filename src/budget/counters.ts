import type { Principal } from '../auth/index.js'
import type { BudgetCounter } from '../store/store.js'
import { windowAt } from './windows.js'

/** Counters outlive their window a little, so a request that settles just after the turn still finds its own. */
const SETTLE_GRACE_MS = 10 * 60 * 1000

export type KeyCounters = { counters: BudgetCounter[]; resetsAt: number[] }

/** One counter per budget that applies, named by its scope and owner, window kind and window id. */
export function budgetCounters(prefix: string, principal: Principal, now: number): KeyCounters {
  const spans = principal.budgets.map((budget) => windowAt(budget.window, now))
  return {
    counters: principal.budgets.map((budget, i) => {
      const span = spans[i] as ReturnType<typeof windowAt>
      return {
        key: `${prefix}budget:${budget.scope}:${budget.name}:${budget.window}:${span.id}`,
        limit: budget.tokens,
        ttlMs: span.endsAt - now + SETTLE_GRACE_MS,
      }
    }),
    resetsAt: spans.map((span) => span.endsAt),
  }
}
