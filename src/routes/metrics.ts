import { Hono } from 'hono'
import type { Deps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { bearerToken, digestsEqual, secretDigest } from '../lib/bearer.js'
import { reply } from '../reply/reply.js'

/** `GET /metrics` in Prometheus text format, behind a bearer token when config sets one. */
export const metricsRoute = ({ config, metrics }: Pick<Deps, 'config' | 'metrics'>) => {
  const expected = config.metrics.bearerToken ? secretDigest(config.metrics.bearerToken) : undefined
  return new Hono().get('/metrics', async (c) => {
    if (expected) {
      const token = bearerToken(c.req.header('authorization'))
      if (!token || !digestsEqual(secretDigest(token), expected)) throw gatewayError('invalid_api_key')
    }
    return reply(c, await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType })
  })
}
