import { Hono } from 'hono'
import type { Deps } from '../deps.js'
import type { Lifecycle } from '../server/lifecycle.js'

/**
 * Liveness says the process answers. Readiness says it should get traffic: the store answers, it is
 * not draining, and at least one backend has a healthy replica (a gateway that can reach no backend
 * would only hand out 502s). The body shows each backend's state and each of its replicas' (up,
 * ejected or half-open, outstanding requests, last error), so an operator sees which one is down and why.
 */
export const health = ({ store, pools }: Pick<Deps, 'store' | 'pools'>, lifecycle: Lifecycle) =>
  new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      const storeUp = await store.ping()
      const backends = pools.snapshot()
      const someBackend = Object.values(backends).some((backend) => backend.healthy)
      const ready = storeUp && !lifecycle.draining && someBackend
      return c.json(
        { status: ready ? 'ready' : 'not_ready', store: { kind: store.kind, up: storeUp }, draining: lifecycle.draining, backends },
        ready ? 200 : 503,
      )
    })
