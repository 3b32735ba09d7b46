import { z } from 'zod'
import { isWholeMicros } from '../lib/usd.js'

export const BUDGET_WINDOWS = ['minute', 'hour', 'day', 'month'] as const
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number]

/** What a budget counts: tokens, or money (US dollars, counted in micro-dollars). */
export type BudgetUnit = 'tokens' | 'usd'

const count = (min: number) => z.coerce.number().int().min(min)

/** Dollars to 6 decimal places at most: a whole number of micro-dollars (prices: pico-dollars per token). */
const dollars = (max: number) => z.coerce.number().min(0).max(max).refine(isWholeMicros, 'use at most 6 decimal places')

/**
 * A model's prices in US dollars per million tokens, as hosted APIs quote them. Image tokens are
 * part of the prompt but often priced apart; without `image` they cost what prompt tokens cost.
 */
export const PricingSchema = z.strictObject({
  prompt: dollars(1_000_000),
  completion: dollars(1_000_000),
  image: dollars(1_000_000).optional(),
})

/**
 * At most this many tokens, or this many dollars, per calendar window (UTC); several budgets may
 * apply at once. One of `tokens` or `usd`: the parsed budget has exactly the one given.
 */
export const BudgetSchema = z
  .strictObject({
    window: z.enum(BUDGET_WINDOWS),
    tokens: count(1).optional(),
    // $1e9 in micro-dollars stays far below 2^53: every sum Redis and the ledger make is exact.
    usd: dollars(1_000_000_000)
      .refine((usd) => usd > 0, 'must be more than 0')
      .optional(),
  })
  .transform(({ window, tokens, usd }, ctx) => {
    if (tokens !== undefined && usd === undefined) return { window, tokens }
    if (usd !== undefined && tokens === undefined) return { window, usd }
    ctx.addIssue({ code: 'custom', message: 'give exactly one of `tokens` or `usd`' })
    return z.NEVER
  })

export type BudgetConfig = z.output<typeof BudgetSchema>
export type PricingConfig = z.output<typeof PricingSchema>

export const budgetUnit = (budget: BudgetConfig): BudgetUnit => ('usd' in budget ? 'usd' : 'tokens')

export const BudgetPolicySchema = z.strictObject({
  /** When the store cannot be asked: `closed` refuses (503), `open` lets requests through unmetered. */
  whenStoreFails: z.enum(['closed', 'open']).default('closed'),
  /** Reserved for the answer when a request sets neither max_completion_tokens nor max_tokens. */
  defaultCompletionTokens: count(1).default(1_024),
  /**
   * A reservation is a lease this long, renewed every third of it while its request runs: a replica
   * that dies holding reservations frees them within one lease.
   */
  leaseMs: count(1_000).default(30_000),
})

/** Two budgets of one owner for the same window and unit would share one counter. */
export const oneBudgetPerWindow = (budgets: readonly BudgetConfig[]): boolean =>
  new Set(budgets.map((b) => `${b.window}:${budgetUnit(b)}`)).size === budgets.length

export const ONE_PER_WINDOW = {
  error: 'one budget per window and unit: two budgets for the same window would share one counter',
  path: ['budgets'],
}
