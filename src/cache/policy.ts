import type { CacheConfig } from '../config/schema.js'
import type { ChatRequest } from '../validate/index.js'

/**
 * What the cache does for one request. `lookup`: read, and store a miss; `refresh`: skip the read
 * (Cache-Control: no-cache) but store the fresh answer; `bypass`: neither (Cache-Control: no-store,
 * a non-deterministic request under the default admission, or the cache switched off).
 */
export type CacheDecision = 'lookup' | 'refresh' | 'bypass'

/** Most requests send no Cache-Control: they skip the parsing. */
const NO_DIRECTIVES: ReadonlySet<string | undefined> = new Set()

export function decideCache(request: ChatRequest, cacheControl: string | undefined, config: CacheConfig): CacheDecision {
  if (!config.enabled) return 'bypass'
  const directives =
    cacheControl === undefined
      ? NO_DIRECTIVES
      : new Set(
          cacheControl
            .toLowerCase()
            .split(',')
            .map((d) => d.trim().split('=')[0]),
        )
  if (directives.has('no-store')) return 'bypass'
  if (config.admit === 'deterministic' && !isDeterministic(request)) return 'bypass'
  return directives.has('no-cache') ? 'refresh' : 'lookup'
}

/** Sampling at temperature 0, or seeded: the same request should give the same answer. */
export function isDeterministic(request: ChatRequest): boolean {
  return request.temperature === 0 || (request.seed !== undefined && request.seed !== null)
}
