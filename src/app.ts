import { Hono } from 'hono'
import type { AppDeps, Deps } from './deps.js'
import type { AppEnv } from './env.js'
import { cors } from './server/cors.js'
import { notFound, onError } from './errors/respond.js'
import { WorkGate } from './lib/work-gate.js'
import { TokenCounter } from './meter/token-counter.js'
import { createLabeler } from './metrics/labels.js'
import { chatCompletions } from './routes/chat-completions.js'
import { admin, type Admin } from './routes/admin.js'
import { health } from './routes/health.js'
import { metricsRoute } from './routes/metrics.js'
import { models } from './routes/models.js'
import { openApi } from './routes/openapi.js'
import { usage } from './routes/usage.js'
import type { Lifecycle } from './server/lifecycle.js'
import { limitInFlight } from './server/in-flight.js'
import { observe } from './server/observe.js'
import { requestId } from './server/request-id.js'
import { carryReplyHeaders } from './server/carry-reply-headers.js'
import { stepsInOrder } from './lib/steps-in-order.js'

/** Wiring only: every behaviour lives in a step, and every dependency comes in through `deps`. */
export function createApp(deps: Deps, lifecycle: Lifecycle = { draining: false }, adminOps?: Admin): Hono<AppEnv> {
  return createGateway(deps, lifecycle, adminOps).app
}

/**
 * The app, and a way to know when it has no request in flight: a process that swaps in a new
 * config (a reload) closes the old version's backend pools only once its last request is done.
 */
export function createGateway(
  deps: Deps,
  lifecycle: Lifecycle = { draining: false },
  adminOps?: Admin,
): { app: Hono<AppEnv>; idle(): Promise<void> } {
  const { server } = deps.config
  const built: AppDeps = {
    ...deps,
    labels: createLabeler(deps.config),
    tokens: new TokenCounter(),
    largeWork: new WorkGate(server.largeWorkConcurrency, server.largeWorkMaxWaitMs),
  }
  const app = new Hono<AppEnv>()
  const admission = limitInFlight(built)
  const renderError = onError(deps.log)
  app.use(
    stepsInOrder(renderError, [
      // First: whatever answers, a route's c.json() included, carries the headers the steps set.
      carryReplyHeaders(),
      requestId(),
      observe(built),
      // Ahead of admission and auth: a preflight carries no key and does no work.
      cors(deps.config.server.cors),
      admission,
    ]),
  )
  const chat = chatCompletions(built)
  const modelList = models(built)
  // The hosted API's own paths (`/v1/openai/...`) work too, so its examples only need a new host.
  for (const prefix of ['/v1', '/v1/openai']) {
    app.route(`${prefix}/chat/completions`, chat)
    app.route(`${prefix}/models`, modelList)
  }
  app.route('/v1/usage', usage(built))
  app.route('/', openApi())
  app.route('/admin', admin(built, adminOps))
  app.route('/', health(built, lifecycle))
  if (servesMetricsOnMainPort(deps)) app.route('/', metricsRoute(built))
  app.onError(renderError)
  app.notFound(notFound)
  return { app, idle: () => admission.idle() }
}

/** With `metrics.port` set, Prometheus scrapes a listener of its own, apart from client traffic: this app. */
export function createMetricsApp(deps: Deps) {
  return new Hono().route('/', metricsRoute(deps)).onError(onError(deps.log))
}

export function servesMetricsOnMainPort(deps: Pick<Deps, 'config'>): boolean {
  return deps.config.metrics.enabled && deps.config.metrics.port === 0
}
