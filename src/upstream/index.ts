import type { MiddlewareHandler } from 'hono'
import type { AppDeps } from '../deps.js'
import { answerFromBackend } from './from-backend.js'
import { answerFromCache } from './from-cache.js'
import type { UpstreamReads } from './exchange.js'

export { USAGE_SOURCE_HEADER } from './usage-header.js'
export type { UpstreamReads } from './exchange.js'

/**
 * Step 8: produce the answer, from the cache entry the cache step found or from the model's backend
 * (or its fallbacks), and end the request's finish line with one Completion when its last byte is out.
 */
export const upstream = (
  deps: Pick<AppDeps, 'config' | 'upstreamClient' | 'metrics' | 'clock' | 'labels' | 'tokens' | 'pools'>,
): MiddlewareHandler<{ Variables: UpstreamReads }> => {
  const fromBackend = answerFromBackend(deps)
  // Not async: it hands on the answer or the promise of one. An async function that returns a promise
  // (rather than `return await` it) costs two more promises and turns of the microtask queue.
  return function produceAnswer(c) {
    const lookup = c.get('cacheLookup')
    // A hit's answer as it is, not wrapped in a promise: stepsInOrder takes a step's Response either
    // way, and the wrapping cost every hit a promise and a then (hono types a step's answer as a promise).
    if (lookup.result === 'hit') return answerFromCache(c, lookup.entry, deps.clock) as unknown as Promise<Response>
    return fromBackend(c, lookup.result)
  }
}
