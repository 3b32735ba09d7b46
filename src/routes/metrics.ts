import { timingSafeEqual } from 'node:crypto'
import { Hono } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError } from '../errors/gateway-error.js'
import { sha256Hex } from '../lib/sha256.js'

/** `GET /metrics` in Prometheus text format, behind a bearer token when config sets one. */
export const metricsRoute = ({ config, metrics }: Pick<Deps, 'config' | 'metrics'>) => {
  const expected = config.metrics.bearerToken ? Buffer.from(sha256Hex(config.metrics.bearerToken), 'hex') : undefined
  return new Hono<AppEnv>().get('/metrics', async (c) => {
    if (expected) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1]
      // Digests, not raw tokens, so the comparison is constant-time and equal-length.
      if (!token || !timingSafeEqual(Buffer.from(sha256Hex(token), 'hex'), expected)) throw gatewayError('invalid_api_key')
    }
    c.header('content-type', metrics.registry.contentType)
    return c.body(await metrics.registry.metrics())
  })
}
