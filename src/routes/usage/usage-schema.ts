import { z } from 'zod'
import { BUDGET_WINDOWS } from '../../config/schema.js'

/**
 * The usage API's answers, as zod schemas: the routes' types come from them and so does the
 * OpenAPI document, so what is documented is what is sent. Snake case, as OpenAI's API writes it.
 */
export const BudgetUsageSchema = z
  .strictObject({
    window: z.enum(BUDGET_WINDOWS),
    unit: z.enum(['tokens', 'usd']).meta({ description: '`tokens`, or `usd` (amounts in US dollars, exact to the micro-dollar).' }),
    limit: z.number().min(0),
    used: z.number().min(0).meta({ description: 'Settled: what finished requests cost in this window.' }),
    reserved: z.number().min(0).meta({ description: 'Held by requests still running (their worst case), until they settle.' }),
    remaining: z.number().min(0).meta({ description: 'limit - used - reserved, never below 0.' }),
    resets_at: z.int().meta({ description: 'When the window ends and the budget starts again (Unix seconds, UTC calendar windows).' }),
  })
  .meta({ id: 'BudgetUsage' })

export type BudgetUsage = z.infer<typeof BudgetUsageSchema>

const budgets = z.array(BudgetUsageSchema)

export const UsageResponseSchema = z
  .strictObject({
    object: z.literal('usage'),
    key: z.strictObject({ alias: z.string(), team: z.string(), budgets }),
    team: z.strictObject({ name: z.string(), budgets }),
  })
  .meta({ id: 'Usage', description: "The calling key's budgets and its team's, with what is used of them now." })

export const AdminKeySchema = z
  .strictObject({
    alias: z.string(),
    team: z.string(),
    role: z.enum(['user', 'admin']),
    models: z.array(z.string()).nullable().meta({ description: 'Models the key may use; null: every configured model.' }),
    budgets: budgets.meta({ description: "The key's own budgets (its team's are in /admin/usage)." }),
  })
  .meta({ id: 'AdminKey', description: 'A configured key, by its alias: never its secret or hash.' })

export const AdminKeysResponseSchema = z
  .strictObject({ object: z.literal('list'), data: z.array(AdminKeySchema) })
  .meta({ id: 'AdminKeyList' })

export const AdminUsageResponseSchema = z
  .strictObject({
    object: z.literal('usage'),
    teams: z.array(
      z.strictObject({
        name: z.string(),
        budgets,
        keys: z.array(z.strictObject({ alias: z.string(), budgets })),
      }),
    ),
  })
  .meta({ id: 'AdminUsage', description: "Every team's budgets, and each of its keys' own, with what is used of them now." })

export type UsageResponse = z.infer<typeof UsageResponseSchema>
export type AdminKeysResponse = z.infer<typeof AdminKeysResponseSchema>
export type AdminUsageResponse = z.infer<typeof AdminUsageResponseSchema>
