import type { Logger } from 'pino'
import type { CacheConfig } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import type { CacheStore, LockRef } from '../store/store.js'
import type { CachedCompletion } from './entry.js'
import { ParsedEntries } from './parsed-entries.js'

/** What getNow answers for a store it cannot read at once. */
export const ASK_THE_STORE = Symbol('ask the store')

export type Lookup = { entry: CachedCompletion | undefined; locked: boolean }

/** Parsed entries kept for hits to come: their texts add up to at most this many characters. */
const PARSED_ENTRIES_MAX_CHARS = 4 * 1024 * 1024

/**
 * The cache's view of the store. Store trouble (Redis down, slow, hung) is never the request's
 * problem: a failed read is a miss, a failed write is dropped (its lock lapses on its own).
 * Failures are counted on every occurrence and logged once per episode, with a second line when
 * the store answers again.
 */
export class ResponseCache {
  private failing = false
  private readonly parsed = new ParsedEntries(PARSED_ENTRIES_MAX_CHARS)

  constructor(
    private readonly store: CacheStore & { readonly kind: string },
    private readonly config: CacheConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The entry, or (with `lock`) the lock taken in the same round trip. Throws after counting a store failure. */
  async lookup(key: string, lock?: LockRef): Promise<Lookup> {
    try {
      const { value, locked } = await this.store.lookup(key, lock)
      this.recovered()
      return { entry: value === null ? undefined : this.parsed.parse(key, value), locked }
    } catch (err) {
      this.failed(err, 'read')
      throw err
    }
  }

  /** The entry, or undefined for a miss and for any store trouble. */
  async get(key: string): Promise<CachedCompletion | undefined> {
    try {
      return (await this.lookup(key)).entry
    } catch {
      return undefined
    }
  }

  /**
   * The entry (or undefined for a miss) at once, from a store that holds its entries in this
   * process; ASK_THE_STORE from one that must be asked (Redis): use get.
   */
  getNow(key: string): CachedCompletion | undefined | typeof ASK_THE_STORE {
    if (!this.store.peek) return ASK_THE_STORE
    try {
      const value = this.store.peek(key)
      this.recovered()
      return value === null ? undefined : this.parsed.parse(key, value)
    } catch (err) {
      this.failed(err, 'read')
      return undefined
    }
  }

  /** Stores `entry` (when there is one and it is not too large) and releases `lock`, in one round trip. */
  async storeAndRelease(key: string, entry: CachedCompletion | undefined, lock?: LockRef): Promise<void> {
    try {
      let text = entry && JSON.stringify(entry) // a backend's answer, read under a depth limit, so this cannot overflow
      if (text !== undefined && Buffer.byteLength(text) > this.config.maxEntryBytes) text = undefined
      if (text === undefined && !lock) return
      await this.store.storeAndRelease(key, text, this.config.ttlSeconds * 1000, lock)
      this.recovered()
    } catch (err) {
      this.failed(err, 'write')
    }
  }

  /** Stores `entry`, with no lock to release. */
  put(key: string, entry: CachedCompletion): Promise<void> {
    return this.storeAndRelease(key, entry)
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
