import type { BudgetConfig } from '../config/schema.js'

/** A budget and whose it is: the key's own, or its team's (shared by every key of the team). */
export type ScopedBudget = BudgetConfig & { scope: 'key' | 'team'; name: string }

/** Who is calling: names from config only, never the secret or its hash. */
export type Principal = Readonly<{
  keyAlias: string
  team: string
  /** `admin` may call /admin/*. */
  role: 'user' | 'admin'
  /** Models this key may use; undefined means all. */
  models: readonly string[] | undefined
  /** Token budgets that apply to this key, its own and its team's; empty means unlimited. */
  budgets: readonly ScopedBudget[]
}>

/** An owner's configured budgets, each marked with whose it is. */
export const scopeBudgets = (budgets: readonly BudgetConfig[], scope: ScopedBudget['scope'], name: string): ScopedBudget[] =>
  budgets.map((budget) => ({ ...budget, scope, name }))

export const ANONYMOUS: Principal = { keyAlias: 'anonymous', team: 'anonymous', role: 'user', models: undefined, budgets: [] }
