import type { RedisClient } from './redis-client.js'

/**
 * Budget counters must never be evicted: a Redis that drops one hands its key a fresh budget. Any
 * `allkeys-*` policy may evict them, and so may `volatile-*` (they carry a TTL until their window
 * ends). Only `noeviction` is safe. Returns a warning to log, or undefined when the policy is safe;
 * managed Redis often disables CONFIG, which is a warning of its own, never an error.
 */
export async function evictionWarning(client: RedisClient, timeoutMs: number): Promise<string | undefined> {
  let policy: string | undefined
  try {
    const timeout = new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('timed out')), timeoutMs).unref())
    // Commands fail at once until the connection is ready (no offline queue): wait for it first.
    if (client.status !== 'ready') await Promise.race([new Promise((resolve) => client.once('ready', resolve)), timeout])
    const reply: unknown = await Promise.race([client.config('GET', 'maxmemory-policy'), timeout])
    policy = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined
  } catch (err) {
    return `could not read Redis maxmemory-policy (${(err as Error).message}); budget counters are safe only under noeviction`
  }
  if (policy === undefined || policy === 'noeviction') return undefined
  return `Redis maxmemory-policy is ${policy}: under memory pressure it may evict budget counters (a key then gets a fresh budget); use noeviction for budgets and put the cache on redis.cacheUrl`
}
