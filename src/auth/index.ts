import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { bearerToken, secretDigest } from '../lib/bearer.js'
import { ANONYMOUS, scopeBudgets, type Principal } from './principal.js'

export type AuthVariables = { principal: Principal }

/** Step 1: the bearer key → `principal` on the context. */
export const auth = ({ config }: Pick<Deps, 'config'>): MiddlewareHandler<{ Variables: AuthVariables }> => {
  const teamBudgets = new Map(config.teams.map((team) => [team.name, team.budgets]))
  // Keyed by digest, never by secret: a lookup's timing can only tell about the digest of a guess,
  // which says nothing about any key's secret. Config loading makes digests lowercase and unique.
  const keys = new Map<string, Principal>(
    config.keys.map((key) => [
      key.sha256,
      {
        keyAlias: key.alias,
        team: key.team,
        role: key.role,
        models: key.models,
        budgets: [...scopeBudgets(key.budgets, 'key', key.alias), ...scopeBudgets(teamBudgets.get(key.team) ?? [], 'team', key.team)],
      },
    ]),
  )
  const allowAnonymous = config.auth.allowAnonymous

  // Not async: it has nothing to do after next(), and an async step costs every request a promise
  // and two more turns of the microtask queue as the chain unwinds.
  return function authenticate(c, next) {
    const header = c.req.header('authorization')
    if (header === undefined || header.trim() === '') {
      if (!allowAnonymous) throw gatewayError('missing_api_key')
      c.set('principal', ANONYMOUS)
      return next()
    }
    const token = bearerToken(header)
    if (!token) throw gatewayError('invalid_api_key', { message: 'Authorization must be "Bearer <key>".' })
    const principal = keys.get(secretDigest(token))
    if (!principal) throw gatewayError('invalid_api_key')
    c.set('principal', principal)
    return next()
  }
}

// What later steps use of this one: who is calling.
export { scopeBudgets, type Principal, type ScopedBudget } from './principal.js'
