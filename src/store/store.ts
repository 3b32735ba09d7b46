/**
 * What the gateway keeps outside a request: the response cache today, budgets next.
 * Two implementations: Redis (shared by replicas) and the embedded in-memory store (single node).
 * Both bound every call in time, so a slow store never hangs a request.
 */
export interface Store {
  readonly kind: 'memory' | 'redis'
  get(key: string): Promise<string | null>
  /** Store with a time to live; a value that cannot be kept (too big, store down) is dropped, not an error for the caller. */
  set(key: string, value: string, ttlMs: number): Promise<void>
  /** Reachability, for /readyz and the redis_up gauge. */
  ping(): Promise<boolean>
  close(): Promise<void>
}
