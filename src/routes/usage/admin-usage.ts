import type { ScopedBudget } from '../../auth/index.js'
import { scopeBudgets } from '../../auth/index.js'
import type { Config, KeyConfig } from '../../config/schema.js'
import type { Deps } from '../../deps.js'
import { readBudgetUsage } from './budget-usage.js'
import type { AdminKeysResponse, AdminUsageResponse, BudgetUsage } from './usage-schema.js'

type TeamUsage = { name: string; budgets: BudgetUsage[]; keys: Array<{ key: KeyConfig; budgets: BudgetUsage[] }> }

/**
 * Every team's budgets and its keys' own, with usage: one store call per team (a team's counters
 * share its hash tag, so this also works on a Redis Cluster), teams read in parallel. Teams named
 * only by keys are included (with no budgets of their own), in config order.
 */
export async function usageByTeam(deps: Pick<Deps, 'config' | 'store' | 'clock'>): Promise<TeamUsage[]> {
  const { config } = deps
  const reader = { store: deps.store, prefix: config.cache.keyPrefix, now: deps.clock.now() }
  return Promise.all(
    teamNames(config).map(async (name) => {
      const keys = config.keys.filter((key) => key.team === name)
      const own = scopeBudgets(config.teams.find((team) => team.name === name)?.budgets ?? [], 'team', name)
      const perKey = keys.map((key) => scopeBudgets(key.budgets, 'key', key.alias))
      const all = await readBudgetUsage(reader, name, [...own, ...perKey.flat()])
      let at = own.length
      const next = (budgets: readonly ScopedBudget[]) => all.slice(at, (at += budgets.length))
      return { name, budgets: all.slice(0, own.length), keys: keys.map((key, i) => ({ key, budgets: next(perKey[i] ?? []) })) }
    }),
  )
}

function teamNames(config: Config): string[] {
  return [...new Set([...config.teams.map((team) => team.name), ...config.keys.map((key) => key.team)])]
}

/** `GET /admin/keys`: names, roles, models and own budgets; the hash stays inside the gateway. */
export function keysBody(teams: readonly TeamUsage[], config: Config): AdminKeysResponse {
  const byAlias = new Map(teams.flatMap((team) => team.keys.map(({ key, budgets }) => [key.alias, budgets] as const)))
  return {
    object: 'list',
    data: config.keys.map((key) => ({
      alias: key.alias,
      team: key.team,
      role: key.role,
      models: key.models ? [...key.models] : null,
      budgets: byAlias.get(key.alias) ?? [],
    })),
  }
}

/** `GET /admin/usage`: per team, its budgets and each of its keys' own. */
export function usageBody(teams: readonly TeamUsage[]): AdminUsageResponse {
  return {
    object: 'usage',
    teams: teams.map((team) => ({
      name: team.name,
      budgets: team.budgets,
      keys: team.keys.map(({ key, budgets }) => ({ alias: key.alias, budgets })),
    })),
  }
}
