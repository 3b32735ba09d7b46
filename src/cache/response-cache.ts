import type { Logger } from 'pino'
import type { CacheConfig } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Store } from '../store/store.js'
import { parseCachedCompletion, type CachedCompletion } from './entry.js'

/**
 * The cache's view of the store. Store trouble (Redis down, slow, hung) is never the request's
 * problem: a failed read is a miss, a failed write is dropped. Failures are counted on every
 * occurrence and logged once per episode, with a second line when the store answers again.
 */
export class ResponseCache {
  private failing = false

  constructor(
    private readonly store: Store,
    private readonly config: CacheConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async get(key: string): Promise<CachedCompletion | undefined> {
    try {
      const text = await this.store.get(key)
      this.recovered()
      return text === null ? undefined : parseCachedCompletion(text)
    } catch (err) {
      this.failed(err, 'read')
      return undefined
    }
  }

  async put(key: string, entry: CachedCompletion): Promise<void> {
    try {
      const text = JSON.stringify(entry) // a backend's answer, read under a depth limit, so this cannot overflow
      if (Buffer.byteLength(text) > this.config.maxEntryBytes) return
      await this.store.set(key, text, this.config.ttlSeconds * 1000)
      this.recovered()
    } catch (err) {
      this.failed(err, 'write')
    }
  }

  private failed(err: unknown, operation: 'read' | 'write'): void {
    this.metrics.cacheLookups.inc({ result: 'error' })
    if (this.failing) return
    this.failing = true
    this.log.warn(
      { operation, store: this.store.kind, message: err instanceof Error ? err.message : String(err) },
      'response cache unavailable: serving without it',
    )
  }

  private recovered(): void {
    if (!this.failing) return
    this.failing = false
    this.log.info({ store: this.store.kind }, 'response cache available again')
  }
}
