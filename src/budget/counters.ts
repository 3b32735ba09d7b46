import type { Principal } from '../auth/principal.js'
import type { BudgetCounter, Store } from '../store/store.js'
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

/**
 * Adds tokens to a key's counters without a limit check: for usage that has already happened
 * and must count (a cache hit, when config charges hits). The next request sees the total.
 */
export async function chargeCounters(store: Store, prefix: string, principal: Principal, tokens: number, now: number): Promise<void> {
  if (principal.budgets.length === 0 || tokens <= 0) return
  const { counters } = budgetCounters(prefix, principal, now)
  await store.reserve(
    counters.map((counter) => ({ ...counter, limit: Number.MAX_SAFE_INTEGER })),
    tokens,
  )
}
