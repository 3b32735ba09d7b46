import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { bearerToken, digestsEqual, secretDigest } from '../lib/bearer.js'
import { ANONYMOUS, scopeBudgets, type Principal } from './principal.js'

export type AuthVariables = { principal: Principal }

/** Step 1: the bearer key → `principal` on the context. */
export const auth = ({ config }: Pick<Deps, 'config'>): MiddlewareHandler<{ Variables: AuthVariables }> => {
  const teamBudgets = new Map(config.teams.map((team) => [team.name, team.budgets]))
  const keys = config.keys.map((key) => ({
    digest: Buffer.from(key.sha256, 'hex'),
    principal: {
      keyAlias: key.alias,
      team: key.team,
      role: key.role,
      models: key.models,
      budgets: [...scopeBudgets(key.budgets, 'key', key.alias), ...scopeBudgets(teamBudgets.get(key.team) ?? [], 'team', key.team)],
    } satisfies Principal,
  }))
  const allowAnonymous = config.auth.allowAnonymous

  return async function authenticate(c, next) {
    const header = c.req.header('authorization')
    if (header === undefined || header.trim() === '') {
      if (!allowAnonymous) throw gatewayError('missing_api_key')
      c.set('principal', ANONYMOUS)
      return next()
    }
    const token = bearerToken(header)
    if (!token) throw gatewayError('invalid_api_key', { message: 'Authorization must be "Bearer <key>".' })
    const principal = findKey(keys, secretDigest(token))
    if (!principal) throw gatewayError('invalid_api_key')
    c.set('principal', principal)
    return next()
  }
}

/**
 * Compare digests, never raw secrets, and look at every key without stopping early, so the time
 * taken says nothing about which key (or how much of one) matched. Config-file key counts keep this cheap.
 */
function findKey(keys: ReadonlyArray<{ digest: Buffer; principal: Principal }>, digest: Buffer): Principal | undefined {
  let found: Principal | undefined
  for (const key of keys) {
    if (digestsEqual(key.digest, digest) && !found) found = key.principal
  }
  return found
}

// What later steps use of this one: who is calling.
export { scopeBudgets, type Principal, type ScopedBudget } from './principal.js'
