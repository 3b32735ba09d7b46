import { budgetUnit } from './budget-schema.js'
import type { InterpolationProblem } from './interpolate.js'
import type { ParsedConfig } from './schema.js'

/**
 * A money budget counts what requests cost at their model's prices. A model without `pricing`
 * would cost nothing, so a key could spend without limit under a budget that says $5: such a
 * config is refused, naming the budget, the models and the keys. Every model a `usd` budget's keys
 * may use (the key's own budget, or its team's) needs pricing; a free model says so with zeros.
 */
export function unpricedModelsUnderUsdBudgets(config: ParsedConfig): InterpolationProblem[] {
  const priced = new Set(config.models.filter((m) => m.pricing).map((m) => m.id))
  const unpricedFor = (key: ParsedConfig['keys'][number]) => (key.models ?? config.models.map((m) => m.id)).filter((id) => !priced.has(id))
  const firstUsd = (budgets: ParsedConfig['keys'][number]['budgets']) => budgets.findIndex((b) => budgetUnit(b) === 'usd')
  const problem = (path: string, uses: ReadonlyArray<{ alias: string; models: string[] }>): InterpolationProblem => {
    const which = uses.map((u) => `key "${u.alias}" may use ${u.models.map((m) => `"${m}"`).join(', ')}`).join('; ')
    const one = new Set(uses.flatMap((u) => u.models)).size === 1
    return {
      path,
      message:
        `a usd budget counts requests at their model's prices, but ${which}, which ${one ? 'has' : 'have'} no pricing: ` +
        `give ${one ? 'the model' : 'each'} pricing (zeros for a free model) or narrow the key's models`,
    }
  }

  const problems: InterpolationProblem[] = []
  config.keys.forEach((key, i) => {
    const at = firstUsd(key.budgets)
    const models = unpricedFor(key)
    if (at >= 0 && models.length > 0) problems.push(problem(`keys[${i}].budgets[${at}]`, [{ alias: key.alias, models }]))
  })
  config.teams.forEach((team, i) => {
    const at = firstUsd(team.budgets)
    if (at < 0) return
    const uses = config.keys.filter((key) => key.team === team.name).map((key) => ({ alias: key.alias, models: unpricedFor(key) }))
    const unpriced = uses.filter((u) => u.models.length > 0)
    if (unpriced.length > 0) problems.push(problem(`teams[${i}].budgets[${at}]`, unpriced))
  })
  return problems
}
