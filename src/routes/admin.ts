import { Hono, type MiddlewareHandler } from 'hono'
import { auth, type AuthVariables } from '../auth/index.js'
import type { Deps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { keysBody, usageBody, usageByTeam } from './usage/admin-usage.js'

export type ReloadOutcome = { ok: true; warnings: readonly string[] } | { ok: false; problems: readonly string[] }

/** What the running process lends the admin routes: created by main, absent in tests that do not need it. */
export type Admin = Readonly<{ reload(): Promise<ReloadOutcome> }>

const requireAdmin: MiddlewareHandler<{ Variables: AuthVariables }> = async function requireAdmin(c, next) {
  if (c.get('principal').role !== 'admin') {
    throw gatewayError('permission_denied', { message: 'Only a key with role: admin may call /admin/*.' })
  }
  await next()
}

/** `/admin/*`: for keys with `role: admin`. 401 without a valid key, 403 for any other key. */
export const admin = (deps: Pick<Deps, 'config' | 'store' | 'clock'>, adminOps: Admin | undefined) =>
  new Hono<{ Variables: AuthVariables }>()
    .use(auth(deps), requireAdmin)
    .get('/keys', async (c) => c.json(keysBody(await usageByTeam(deps), deps.config)))
    .get('/usage', async (c) => c.json(usageBody(await usageByTeam(deps))))
    .post('/reload', async (c) => {
      if (!adminOps) throw gatewayError('not_found', { message: 'Reload is not available in this process.' })
      const outcome = await adminOps.reload()
      if (!outcome.ok) {
        throw gatewayError('config_invalid', {
          message: `The config file is invalid; the running config is unchanged:\n${outcome.problems.map((p) => `  - ${p}`).join('\n')}`,
        })
      }
      return c.json({ status: 'reloaded', warnings: outcome.warnings })
    })
