import type { Context, MiddlewareHandler } from 'hono'
import type { RequestIdVariables } from 'hono/request-id'
import type { AuthVariables } from '../auth/index.js'
import type { Completion } from '../completion/completion.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { Deps } from '../deps.js'
import type { ImagesVariables } from '../images/index.js'
import type { ValidateVariables } from '../validate/index.js'
import { toCacheEntry, type CachedCompletion } from './entry.js'
import { cacheKey } from './key.js'
import { decideCache } from './policy.js'
import { ReplicaLock, type Claim } from './replica-lock.js'
import { ASK_THE_STORE, ResponseCache } from './response-cache.js'
import { SingleFlight, unlessAborted } from './single-flight.js'
import { setHeader } from '../reply/reply.js'

export const CACHE_HEADER = 'x-cache'

/**
 * What the cache found for a request. A `hit` is answered from `entry` (by the last step, so the
 * budget step still sees it); a `miss` or `refresh` goes to the backend, and its answer is stored
 * once the request has finished; `bypass` leaves the cache alone.
 */
export type CacheLookup = Readonly<{ result: 'hit'; entry: CachedCompletion }> | Readonly<{ result: 'miss' | 'refresh' | 'bypass' }>

export type CacheVariables = { cacheLookup: CacheLookup }

type Reads = RequestIdVariables & FinishVariables & AuthVariables & ValidateVariables & ImagesVariables
type CacheEnv = { Variables: Reads & CacheVariables }

/**
 * Step 6: look the request up in the response cache, keyed on image content; on a miss, let the
 * backend answer once for every identical request in flight (in this process, and across replicas
 * sharing Redis), and store the answer when the request has finished with a whole one.
 */
export const cache = ({
  config,
  store,
  metrics,
  log,
  clock,
}: Pick<Deps, 'config' | 'store' | 'metrics' | 'log' | 'clock'>): MiddlewareHandler<CacheEnv> => {
  const responses = new ResponseCache(store, config.cache, metrics, log)
  const flights = new SingleFlight<CachedCompletion>()
  // In one process the flights above already coalesce; the lock is for replicas sharing Redis.
  const replicas =
    store.kind === 'redis' && config.cache.coalesceAcrossReplicas
      ? new ReplicaLock(
          store,
          responses,
          { lockTtlMs: config.cache.lockTtlMs, waitMs: config.cache.lockWaitMs, pollMs: config.cache.pollMs },
          clock,
        )
      : undefined

  const lookupAlone = async (key: string): Promise<Claim> => {
    const entry = await responses.get(key)
    return entry ? { kind: 'answer', entry } : { kind: 'alone' }
  }

  // Not async: a request the cache leaves alone, or that the memory store answers at once, has
  // nothing to wait for, and an async step costs a promise.
  return function lookUpResponse(c, next) {
    const request = c.get('chatRequest')
    const decision = decideCache(request, c.req.header('cache-control'), config.cache)
    const found = (lookup: CacheLookup) => {
      metrics.cacheLookups.inc({ result: lookup.result })
      setHeader(c, CACHE_HEADER, lookup.result.toUpperCase())
      c.set('cacheLookup', lookup)
      return next()
    }
    if (decision === 'bypass') return found({ result: 'bypass' })
    const key = cacheKey(request, c.get('requestImages'), c.get('principal'), config.cache)
    if (typeof key === 'string' && decision === 'lookup' && !replicas && !flights.join(key)) {
      const entry = responses.getNow(key)
      if (entry !== ASK_THE_STORE) return entry ? found({ result: 'hit', entry }) : toBackend(c, key, decision, found, flights.lead(key))
    }
    return lookUp(c, decision, key, found)
  }

  async function lookUp(
    c: Context<CacheEnv>,
    decision: 'lookup' | 'refresh',
    keyOrDigesting: string | Promise<string>,
    found: (lookup: CacheLookup) => Promise<void>,
  ): Promise<void> {
    const key = await keyOrDigesting
    let flight: Flight | undefined
    let lead: Extract<Claim, { kind: 'lead' }> | undefined
    if (decision === 'lookup') {
      // Join or lead before the first await, so identical requests arriving together always find
      // each other; a flight lands only once its answer is stored, so a later one finds that.
      const inFlight = flights.join(key)
      if (inFlight) {
        const shared = await unlessAborted(inFlight, c.req.raw.signal)
        if (shared) {
          await found({ result: 'hit', entry: shared })
          return
        }
      } else {
        flight = flights.lead(key)
        // One round trip: the entry, or (with replicas) the lock taken when there is none.
        const claim: Claim = replicas ? await replicas.claim(key, c.req.raw.signal) : await lookupAlone(key)
        if (claim.kind === 'answer') {
          flight.land(claim.entry)
          await found({ result: 'hit', entry: claim.entry })
          return
        }
        if (claim.kind === 'lead') lead = claim
      }
    }
    await toBackend(c, key, decision, found, flight, lead)
  }

  /** A miss (or refresh) goes to the backend; its answer is stored once the request has finished with it. */
  function toBackend(
    c: Context<CacheEnv>,
    key: string,
    decision: 'lookup' | 'refresh',
    found: (lookup: CacheLookup) => Promise<void>,
    flight: Flight | undefined,
    lead?: Extract<Claim, { kind: 'lead' }>,
  ): Promise<void> {
    // The store write is sent before the flight lands and, with the lock, in the same step that
    // releases it, so whoever comes next finds the answer: a follower here through the flight, at
    // once; a later request here or on another replica in the store (its read goes out after the
    // write, on the same connection and slot); a waiter on another replica once the lock is gone.
    const storeAnswer = async (completion: Completion) => {
      const entry =
        completion.answer && completion.usage ? toCacheEntry(completion.answer, completion.usage.source, clock.now()) : undefined
      const stored = lead ? lead.finish(entry) : entry ? responses.put(key, entry) : Promise.resolve()
      flight?.land(entry)
      await stored
    }
    c.get('finish').whenDone(storeAnswer)
    return found({ result: decision === 'refresh' ? 'refresh' : 'miss' })
  }
}

type Flight = ReturnType<SingleFlight<CachedCompletion>['lead']>

// What later steps use of this one: the shape of a cached answer.
export type { CachedCompletion } from './entry.js'
