import type { Completion } from '../completion/completion.js'

/**
 * The tokens a finished request costs its key: everything it used, except that a cache hit is free
 * unless config says hits count (`cache.hitsCountTowardUsage`). Nothing for a request that used nothing.
 */
export function chargeFor(completion: Completion, hitsCharged: boolean): number {
  if (!completion.usage) return 0
  if (completion.cache === 'hit' && !hitsCharged) return 0
  return completion.usage.usage.total_tokens
}
