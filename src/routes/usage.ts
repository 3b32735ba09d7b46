import { Hono } from 'hono'
import { auth, type AuthVariables } from '../auth/index.js'
import type { Deps } from '../deps.js'
import { readBudgetUsage } from './usage/budget-usage.js'
import type { UsageResponse } from './usage/usage-schema.js'

/**
 * `GET /usage`: the caller's own budgets and its team's, with what is used of them now, so a client
 * can see its spend without Prometheus or Redis. Any valid key may ask, about itself only.
 */
export const usage = (deps: Pick<Deps, 'config' | 'store' | 'clock'>) =>
  new Hono<{ Variables: AuthVariables }>().use(auth(deps)).get('/', async (c) => {
    const principal = c.get('principal')
    const reader = { store: deps.store, prefix: deps.config.cache.keyPrefix, now: deps.clock.now() }
    // One read: the key's and the team's counters share the team's hash tag (see budgetCounters).
    const all = await readBudgetUsage(reader, principal.team, principal.budgets)
    const mine = (scope: 'key' | 'team') => all.filter((_usage, i) => principal.budgets[i]?.scope === scope)
    const body: UsageResponse = {
      object: 'usage',
      key: { alias: principal.keyAlias, team: principal.team, budgets: mine('key') },
      team: { name: principal.team, budgets: mine('team') },
    }
    return c.json(body)
  })
