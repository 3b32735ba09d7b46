import type { Principal } from '../auth/index.js'
import { budgetUnit, type BudgetConfig, type BudgetUnit } from '../config/schema.js'
import { usdToMicros } from '../lib/usd.js'
import type { BudgetCounter } from '../store/store.js'
import { windowAt } from './windows.js'

/**
 * Counters outlive their window a little, so a request that settles just after the turn (or late,
 * after a store outage: the store's late-settle window) still finds its own.
 */
const SETTLE_GRACE_MS = 20 * 60 * 1000

/** A counter and what it counts: tokens, or micro-dollars (its limit and amounts in that unit). */
export type UnitCounter = BudgetCounter & Readonly<{ unit: BudgetUnit }>

export type KeyCounters = { counters: UnitCounter[]; resetsAt: number[] }

/** What a request costs in each unit a budget may count: tokens, and micro-dollars. */
export type Cost = Readonly<{ tokens: number; micros: number }>

/**
 * One counter per budget that applies, named by its scope and owner, window kind and window id;
 * a money budget's name says `usd` right after the tag, where a token budget's says its scope, so
 * the two never share a name whatever the aliases.
 * All of a request's counters carry its team as their hash tag (`{team}`), so the one atomic step
 * that reserves against them all also works on a Redis Cluster, where such keys share a slot.
 */
export function budgetCounters(prefix: string, principal: Pick<Principal, 'team' | 'budgets'>, now: number): KeyCounters {
  const spans = principal.budgets.map((budget) => windowAt(budget.window, now))
  return {
    counters: principal.budgets.map((budget, i) => {
      const span = spans[i] as ReturnType<typeof windowAt>
      const unit = budgetUnit(budget)
      return {
        key: `${prefix}budget:{${principal.team}}:${unit === 'usd' ? 'usd:' : ''}${budget.scope}:${budget.name}:${budget.window}:${span.id}`,
        limit: budgetLimit(budget),
        ttlMs: span.endsAt - now + SETTLE_GRACE_MS,
        unit,
      }
    }),
    resetsAt: spans.map((span) => span.endsAt),
  }
}

/** A budget's limit in its counter's unit: tokens, or micro-dollars. */
export function budgetLimit(budget: BudgetConfig): number {
  return 'usd' in budget ? usdToMicros(budget.usd) : budget.tokens
}

/** A cost as the amounts of these counters, each in its own unit. */
export function amountsOf(counters: readonly UnitCounter[], cost: Cost): number[] {
  return counters.map((counter) => (counter.unit === 'usd' ? cost.micros : cost.tokens))
}
