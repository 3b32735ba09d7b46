import type { MiddlewareHandler } from 'hono'
import type { RequestIdVariables } from 'hono/request-id'
import type { AuthVariables } from '../auth/index.js'
import type { CacheVariables } from '../cache/index.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import type { ImagesVariables } from '../images/index.js'
import type { MeterVariables } from '../meter/index.js'
import type { NormalizeVariables } from '../normalize/index.js'
import type { ValidateVariables } from '../validate/index.js'
import { answerFromBackend } from './from-backend.js'
import { answerFromCache } from './from-cache.js'

export { USAGE_SOURCE_HEADER } from './usage-header.js'

export type UpstreamReads = RequestIdVariables &
  FinishVariables &
  AuthVariables &
  ValidateVariables &
  NormalizeVariables &
  ImagesVariables &
  MeterVariables &
  CacheVariables

/**
 * Step 8: produce the answer, from the cache entry the cache step found or from the model's backend
 * (or its fallbacks), and end the request's finish line with one Completion when its last byte is out.
 */
export const upstream = (
  deps: Pick<AppDeps, 'config' | 'upstreamClient' | 'metrics' | 'clock' | 'labels'>,
): MiddlewareHandler<{ Variables: UpstreamReads }> => {
  const fromBackend = answerFromBackend(deps)
  return async function produceAnswer(c) {
    const lookup = c.get('cacheLookup')
    if (lookup.result === 'hit') return answerFromCache(c, lookup.entry, deps.clock)
    return fromBackend(c, lookup.result)
  }
}
