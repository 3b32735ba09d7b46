import type { BudgetConfig } from '../config/schema.js'

/** Who is calling: names from config only, never the secret or its hash. */
export type Principal = Readonly<{
  keyAlias: string
  team: string
  /** Models this key may use; undefined means all. */
  models: readonly string[] | undefined
  /** Token budgets of this key; empty means unlimited. */
  budgets: readonly BudgetConfig[]
}>

export const ANONYMOUS: Principal = { keyAlias: 'anonymous', team: 'anonymous', models: undefined, budgets: [] }
