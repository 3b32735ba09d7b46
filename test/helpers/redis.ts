import type { RedisStore } from '../../src/store/redis-store.js'

/**
 * Resolves once the store's connection is ready. Without an offline queue, commands sent before
 * that fail at once (served as misses), so tests that expect hits wait for this first.
 */
export function ready(store: RedisStore): Promise<void> {
  return store.client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => store.client.once('ready', () => resolve()))
}
