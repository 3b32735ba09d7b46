import type { Context, MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { chargeCounters } from '../budget/counters.js'
import { isEventStream, setStreamHeaders } from '../upstream/stream-headers.js'
import { clientWantsUsage } from '../upstream/upstream-body.js'
import { toCachedCompletion, type CachedCompletion } from './entry.js'
import { cacheKey } from './key.js'
import { decideCache } from './policy.js'
import { replayJson, replayStream } from './replay.js'
import { ReplicaLock } from './replica-lock.js'
import { ResponseCache } from './response-cache.js'
import { SingleFlight, unlessAborted } from './single-flight.js'

export const CACHE_HEADER = 'x-cache'

/**
 * Step 6: answer from the response cache, keyed on image content; on a miss, let the backend
 * answer once for every identical request in flight, and store the answer when it is complete.
 */
export const cache = ({
  config,
  store,
  metrics,
  log,
  clock,
}: Pick<Deps, 'config' | 'store' | 'metrics' | 'log' | 'clock'>): MiddlewareHandler<AppEnv> => {
  const responses = new ResponseCache(store, config.cache, metrics, log)
  const flights = new SingleFlight<CachedCompletion>()
  // In one process the flights above already coalesce; the lock is for replicas sharing Redis.
  const replicas =
    store.kind === 'redis' && config.cache.coalesceAcrossReplicas
      ? new ReplicaLock(
          store,
          (key) => responses.get(key),
          { lockTtlMs: config.cache.lockTtlMs, waitMs: config.cache.lockWaitMs, pollMs: config.cache.pollMs },
          clock,
        )
      : undefined

  const answerFromCache = async (c: Context<AppEnv>, entry: CachedCompletion): Promise<Response> => {
    metrics.cacheLookups.inc({ result: 'hit' })
    c.get('usage').markCache('hit')
    const settled = c.get('usage').settle(entry.usage, () => '', entry.usageSource)
    if (settled.charged) {
      // A hit never reaches the budget step; when config charges hits, they count all the same.
      await chargeCounters(store, config.cache.keyPrefix, c.get('principal'), settled.usage.total_tokens, clock.now()).catch(
        (err: unknown) => log.warn({ message: (err as Error).message }, 'budget charge for a cache hit failed'),
      )
    }
    c.header(CACHE_HEADER, 'HIT')
    c.header('age', String(Math.max(0, Math.floor((clock.now() - entry.storedAt) / 1000))))
    const request = c.get('chatRequest')
    if (request.stream !== true) return c.json(replayJson(entry))
    setStreamHeaders(c)
    return c.body(replayStream(entry, clientWantsUsage(request)))
  }

  return async function cacheResponses(c, next) {
    const request = c.get('chatRequest')
    const decision = decideCache(request, c.req.header('cache-control'), config.cache)
    if (decision === 'bypass') {
      metrics.cacheLookups.inc({ result: 'bypass' })
      c.get('usage').markCache('bypass')
      c.header(CACHE_HEADER, 'BYPASS')
      return next()
    }
    const key = cacheKey(request, c.get('images'), c.get('principal'), config.cache)
    let flight: { land(entry: CachedCompletion | undefined): void } | undefined
    let releaseLock: (() => Promise<void>) | undefined
    if (decision === 'lookup') {
      // Join or lead before the first await, so identical requests arriving together always find
      // each other; a flight lands only once its answer is stored, so a later one finds that.
      const inFlight = flights.join(key)
      if (inFlight) {
        const shared = await unlessAborted(inFlight, c.req.raw.signal)
        if (shared) return answerFromCache(c, shared)
      } else {
        flight = flights.lead(key)
        const stored = await responses.get(key)
        if (stored) {
          flight.land(stored)
          return answerFromCache(c, stored)
        }
        const claim = await replicas?.claim(key, c.get('requestId'), c.req.raw.signal)
        if (claim?.kind === 'answer') {
          flight.land(claim.entry)
          return answerFromCache(c, claim.entry)
        }
        if (claim?.kind === 'lead') releaseLock = claim.release
      }
    }
    const result = decision === 'refresh' ? 'refresh' : 'miss'
    metrics.cacheLookups.inc({ result })
    c.get('usage').markCache(result)
    c.header(CACHE_HEADER, result.toUpperCase())

    let done = false
    const finish = async (entry: CachedCompletion | undefined) => {
      if (done) return
      done = true
      if (entry) await responses.put(key, entry)
      await releaseLock?.()
      flight?.land(entry)
    }
    c.set('cacheSink', {
      complete: (completion, settled) => finish(toCachedCompletion(completion, settled.usage, settled.source, clock.now())),
      abandon: () => void finish(undefined),
    })
    try {
      await next()
    } finally {
      // A stream completes later, through the sink; anything else that did not complete by now never will.
      if (!isEventStream(c.res) || c.res.status !== 200) void finish(undefined)
    }
  }
}
