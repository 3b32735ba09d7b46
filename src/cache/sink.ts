import type { SettledUsage } from '../meter/request-usage.js'

/**
 * Where the upstream step hands a finished answer for the cache: `complete` with the completion
 * (non-streamed shape) and its settled usage, or `abandon` when there is nothing to keep (an
 * error, a stream that broke off). Only the first call counts.
 */
export type CacheSink = {
  /** Resolves once the answer is stored (or dropped), so the client's next request can hit it. */
  complete(completion: Record<string, unknown>, usage: SettledUsage): Promise<void>
  abandon(): void
}
