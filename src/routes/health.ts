import { Hono } from 'hono'
import type { Deps } from '../deps.js'
import type { Lifecycle } from '../server/lifecycle.js'

/** Liveness says the process answers; readiness says it should get traffic (store reachable, not draining). */
export const health = ({ store }: Pick<Deps, 'store'>, lifecycle: Lifecycle) =>
  new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      const storeUp = await store.ping()
      const ready = storeUp && !lifecycle.draining
      return c.json(
        { status: ready ? 'ready' : 'not_ready', store: { kind: store.kind, up: storeUp }, draining: lifecycle.draining },
        ready ? 200 : 503,
      )
    })
