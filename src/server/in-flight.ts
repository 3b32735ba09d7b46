import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError } from '../errors/gateway-error.js'

/**
 * Caps the API requests handled at once (`server.maxInFlightRequests`): one that arrives past the
 * cap gets 503 overloaded with Retry-After before any work is done for it, so a flood degrades into
 * quick refusals instead of everyone's latency. A chat request counts until its last byte is out
 * (its finish line), anything else until its handler returns. Health probes and scrapes are not
 * counted: a load balancer must always be able to ask.
 */
export const limitInFlight = ({ config }: Pick<Deps, 'config'>): MiddlewareHandler<AppEnv> & { idle(): Promise<void> } => {
  const max = config.server.maxInFlightRequests
  let inFlight = 0
  let idleWaiters: Array<() => void> = []
  // Not async: an async step costs every request a promise and the turns of its await.
  const admitRequest: MiddlewareHandler<AppEnv> = (c, next) => {
    if (!c.req.path.startsWith('/v1/')) return next()
    if (inFlight >= max) {
      throw gatewayError('overloaded', {
        message: `The gateway is handling ${inFlight} requests, its limit (server.maxInFlightRequests); retry shortly.`,
        headers: { 'retry-after': '1' },
      })
    }
    inFlight++
    let released = false
    const release = () => {
      if (released) return
      released = true
      inFlight--
      if (inFlight > 0) return
      for (const resolve of idleWaiters) resolve()
      idleWaiters = []
    }
    // A chat request counts until its finish line, which its first step draws (before anything
    // can fail or wait); anything else until its handler is done, however that ends.
    const releaseWhenDone = () => {
      const finish = c.get('finish')
      if (finish) finish.whenDone(release)
      else release()
    }
    let passed: Promise<void>
    try {
      passed = next()
    } catch (err) {
      releaseWhenDone()
      throw err
    }
    if (c.get('finish') || !((passed as unknown) instanceof Promise)) {
      releaseWhenDone()
      return passed
    }
    return passed.then(releaseWhenDone, (err: unknown) => {
      releaseWhenDone()
      throw err
    })
  }
  /** Resolves once no API request is in flight. */
  const idle = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve)))
  return Object.assign(admitRequest, { idle })
}
