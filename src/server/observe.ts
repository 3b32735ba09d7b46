import type { Context, MiddlewareHandler } from 'hono'
import type { Completion } from '../completion/completion.js'
import type { AppDeps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { flatLineLog, type FlatLine } from '../lib/flat-line-log.js'
import { afterNext } from '../lib/steps-in-order.js'

/**
 * Runs ahead of every route: one access-log line and the request metrics per request. A chat
 * request is recorded from its Completion, when its last byte has gone (or the client left);
 * anything else when its handler returns.
 */
export const observe = ({
  log,
  metrics,
  clock,
  labels,
}: Pick<AppDeps, 'log' | 'metrics' | 'clock' | 'labels'>): MiddlewareHandler<AppEnv> => {
  // Every value of an access line is a string or a number (accessLogLine).
  const accessLog = flatLineLog(log)
  return function observeRequest(c, next) {
    const started = clock.now()
    metrics.inFlight.inc()
    return afterNext(next(), () => observed(c, started))
  }

  function observed(c: Context<AppEnv>, started: number): void {
    const record = (completion: Completion | undefined) => {
      metrics.inFlight.dec()
      const seconds = (clock.now() - started) / 1000
      const route = routeLabel(c.req.path)
      const principal = c.get('principal')
      const model = route === 'chat' ? labels.modelLabel(c.get('model')) : 'none'
      // A client that left mid-answer is logged and counted as nginx does, 499: never as a 2xx it did not get, nor a 5xx.
      const status = completion?.outcome === 'client_aborted' ? 499 : (completion?.status ?? c.res.status)
      const cache = completion?.cache ?? 'none'
      // Probes and scrapes are not traffic: counting them would bury a quiet gateway's real rate and error ratio.
      if (route !== 'health' && route !== 'metrics') {
        metrics.requests.inc({
          route,
          status_class: `${Math.floor(status / 100)}xx`,
          key_alias: principal?.keyAlias ?? 'none',
          team: principal?.team ?? 'none',
          model,
          cache,
        })
      }
      if (completion) recordChat(completion, model, seconds)
      const line = accessLogLine(c, status, Math.round(seconds * 1000), completion)
      // Probes and scrapes come every few seconds, and a 503 from /readyz is an answer, not a failure.
      if (route === 'health' || route === 'metrics') accessLog.debug(line, 'request')
      else if (status >= 500 || completion?.outcome === 'upstream_error') accessLog.warn(line, 'request failed')
      else accessLog.info(line, 'request')
    }
    const recordChat = (completion: Completion, model: string, seconds: number) => {
      const stream = String(c.get('chatRequest')?.stream === true)
      metrics.requestDuration.observe({ model, stream, cache: completion.cache }, seconds)
      if (completion.backend !== undefined && completion.upstreamMs !== undefined) {
        metrics.upstreamDuration.observe({ model, backend: completion.backend, stream }, completion.upstreamMs / 1000)
      }
      if (completion.firstTokenMs !== undefined)
        metrics.timeToFirstToken.observe({ model, cache: completion.cache }, completion.firstTokenMs / 1000)
    }
    const finish = c.get('finish')
    if (finish) finish.whenDone(record)
    else record(undefined)
  }
}

function accessLogLine(c: Context<AppEnv>, status: number, durationMs: number, completion: Completion | undefined): FlatLine {
  const usage = completion?.usage?.usage
  return {
    requestId: c.get('requestId'),
    method: c.req.method,
    path: c.req.path.slice(0, 200),
    status,
    durationMs,
    key: c.get('principal')?.keyAlias,
    team: c.get('principal')?.team,
    model: c.get('model')?.id,
    reordered: c.get('reorderedMessages')?.length || undefined,
    images: c.get('requestImages')?.length || undefined,
    outcome: completion?.outcome,
    cache: completion && completion.cache !== 'none' ? completion.cache : undefined,
    backend: completion?.backend,
    replica: completion?.replica,
    error: completion?.error?.code,
    // Why it failed, for the operator: every message the gateway writes names no secret and no address.
    reason: status >= 500 || completion?.outcome === 'upstream_error' ? completion?.error?.message : undefined,
    promptTokens: usage?.prompt_tokens,
    completionTokens: usage?.completion_tokens,
    imageTokens: completion?.usage?.imageTokens || undefined,
    upstreamMs: completion?.upstreamMs,
    ttftMs: completion?.firstTokenMs,
  }
}

/** Only a fixed set of route labels, whatever path was asked for. */
function routeLabel(path: string): string {
  if (/^\/v1(\/openai)?\/chat\/completions\/?$/.test(path)) return 'chat'
  if (/^\/v1(\/openai)?\/models(\/|$)/.test(path)) return 'models'
  if (path === '/healthz' || path === '/readyz') return 'health'
  if (path === '/metrics') return 'metrics'
  if (/^\/v1\/usage\/?$/.test(path)) return 'usage'
  if (path.startsWith('/admin/')) return 'admin'
  if (path === '/openapi.json') return 'openapi'
  return 'unmatched'
}
