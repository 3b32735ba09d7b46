import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { systemClock } from '../lib/clock.js'
import { evictionWarning } from './eviction-check.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore, type RedisStoreOptions } from './redis-store.js'
import { SplitStore } from './split-store.js'
import type { Store } from './store.js'

/** The embedded store without Redis; Redis (a server or a cluster) with it, the cache on its own Redis when `cacheUrl` says so. */
export function createStore(config: Config, log: Logger, onRoundTrip?: RedisStoreOptions['onRoundTrip']): Store {
  const { redis } = config
  if (!redis.url && redis.clusterNodes.length === 0) return new MemoryStore(config.cache.memoryMaxBytes, systemClock)
  const connect = (url: string, clusterNodes: readonly string[]) =>
    new RedisStore({
      url,
      clusterNodes,
      commandTimeoutMs: redis.commandTimeoutMs,
      connectTimeoutMs: redis.connectTimeoutMs,
      log,
      ...(onRoundTrip ? { onRoundTrip } : {}),
    })
  const budgets = connect(redis.url, redis.clusterNodes)
  void evictionWarning(budgets.client, redis.connectTimeoutMs).then((warning) => {
    if (warning) log.warn(warning)
  })
  return redis.cacheUrl ? new SplitStore(budgets, connect(redis.cacheUrl, [])) : budgets
}
