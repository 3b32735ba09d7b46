import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { onStreamEnd } from '../lib/on-stream-end.js'

/**
 * Runs ahead of every step: one access-log line and the request metrics per request. For a stream
 * the response body is wrapped so both are recorded when the last byte has gone (or the client left).
 */
export const observe = ({ log, metrics, clock, config }: Pick<Deps, 'log' | 'metrics' | 'clock' | 'config'>): MiddlewareHandler<AppEnv> => {
  const knownModels = new Map(config.models.map((m) => [m.id, m.metricsLabel ?? m.id]))
  return async function observeRequest(c, next) {
    const started = clock.now()
    metrics.inFlight.inc()
    await next()
    const record = () => {
      const seconds = (clock.now() - started) / 1000
      const route = routeLabel(c.req.path, routePath(c))
      const model = knownModels.get(c.var.model?.id ?? '') ?? 'none'
      const principal = c.var.principal
      const status = c.res.status
      metrics.inFlight.dec()
      metrics.requests.inc({
        route,
        status_class: `${Math.floor(status / 100)}xx`,
        key_alias: principal?.keyAlias ?? 'none',
        team: principal?.team ?? 'none',
        model,
      })
      if (route === 'chat') metrics.requestDuration.observe({ route, model, stream: String(c.var.chatRequest?.stream === true) }, seconds)
      log.info(
        {
          requestId: c.var.requestId,
          method: c.req.method,
          path: c.req.path,
          status,
          durationMs: Math.round(seconds * 1000),
          key: principal?.keyAlias,
          model: c.var.model?.id,
          reordered: c.var.reorderedMessages?.length || undefined,
        },
        'request',
      )
    }
    const body = c.res.body
    if (body && c.res.headers.get('content-type')?.startsWith('text/event-stream')) {
      c.res = new Response(onStreamEnd(body, record), c.res)
    } else {
      record()
    }
  }
}

/** Only a fixed set of route labels, whatever path was asked for. */
function routeLabel(path: string, matched: string): string {
  if (path.endsWith('/chat/completions')) return 'chat'
  if (path.includes('/models')) return 'models'
  if (path === '/healthz' || path === '/readyz') return 'health'
  if (path === '/metrics') return 'metrics'
  return matched === '/*' || matched === '' ? 'unmatched' : 'other'
}
