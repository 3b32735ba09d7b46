import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { onStreamEnd } from '../lib/on-stream-end.js'
import { createLabeler } from '../metrics/labels.js'
import { isEventStream } from '../upstream/stream-headers.js'

const CACHE_RESULTS = new Set(['hit', 'miss', 'bypass', 'refresh'])

/**
 * Runs ahead of every step: one access-log line and the request metrics per request. For a stream
 * the response body is wrapped so both are recorded when the last byte has gone (or the client left).
 */
export const observe = ({ log, metrics, clock, config }: Pick<Deps, 'log' | 'metrics' | 'clock' | 'config'>): MiddlewareHandler<AppEnv> => {
  const labeler = createLabeler(config)
  return async function observeRequest(c, next) {
    const started = clock.now()
    c.set('startedAt', started)
    metrics.inFlight.inc()
    await next()
    const record = () => {
      metrics.inFlight.dec()
      const seconds = (clock.now() - started) / 1000
      const route = routeLabel(c.req.path)
      const isChat = route === 'chat'
      const model = isChat ? labeler.modelLabel(c.get('model')) : 'none'
      const principal = c.get('principal')
      const status = c.res.status
      const cacheHeader = c.res.headers.get('x-cache')?.toLowerCase() ?? ''
      const cache = CACHE_RESULTS.has(cacheHeader) ? cacheHeader : 'none'
      metrics.requests.inc({
        route,
        status_class: `${Math.floor(status / 100)}xx`,
        key_alias: principal?.keyAlias ?? 'none',
        team: principal?.team ?? 'none',
        model,
        cache,
      })
      if (isChat) metrics.requestDuration.observe({ model, stream: String(c.get('chatRequest')?.stream === true), cache }, seconds)
      log.info(
        {
          requestId: c.get('requestId'),
          method: c.req.method,
          path: c.req.path.slice(0, 200),
          status,
          durationMs: Math.round(seconds * 1000),
          key: principal?.keyAlias,
          model: c.get('model')?.id,
          reordered: c.get('reorderedMessages')?.length || undefined,
          images: c.get('images')?.length || undefined,
        },
        'request',
      )
    }
    const body = c.res.body
    if (body && isEventStream(c.res)) {
      c.res = new Response(onStreamEnd(body, record), c.res)
    } else {
      record()
    }
  }
}

/** Only a fixed set of route labels, whatever path was asked for. */
function routeLabel(path: string): string {
  if (/^\/v1(\/openai)?\/chat\/completions\/?$/.test(path)) return 'chat'
  if (/^\/v1(\/openai)?\/models(\/|$)/.test(path)) return 'models'
  if (path === '/healthz' || path === '/readyz') return 'health'
  if (path === '/metrics') return 'metrics'
  return 'unmatched'
}
