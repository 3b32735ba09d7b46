import { timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError } from '../errors/gateway-error.js'
import { sha256Hex } from '../lib/sha256.js'
import { ANONYMOUS, type Principal } from './principal.js'

/** Step 1: the bearer key → `c.get('principal')`. */
export const auth = ({ config }: Pick<Deps, 'config'>): MiddlewareHandler<AppEnv> => {
  const keys = config.keys.map((key) => ({
    digest: Buffer.from(key.sha256, 'hex'),
    principal: { keyAlias: key.alias, team: key.team, models: key.models } satisfies Principal,
  }))
  const allowAnonymous = config.auth.allowAnonymous

  return async function authenticate(c, next) {
    const header = c.req.header('authorization')
    if (header === undefined || header.trim() === '') {
      if (!allowAnonymous) throw gatewayError('missing_api_key')
      c.set('principal', ANONYMOUS)
      return next()
    }
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]
    if (!token) throw gatewayError('invalid_api_key', { message: 'Authorization must be "Bearer <key>".' })
    const principal = findKey(keys, Buffer.from(sha256Hex(token), 'hex'))
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
    if (timingSafeEqual(key.digest, digest) && !found) found = key.principal
  }
  return found
}
