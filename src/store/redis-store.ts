import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { BudgetCounter, ReserveResult, Store } from './store.js'

const DELETE_IF_EQUALS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

// All or nothing: check every counter, then add to every counter. A new counter gets its time to
// live; an existing one keeps the one it was given (its window's end).
const RESERVE = `
local amount = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + amount > tonumber(ARGV[1 + i]) then return {0, i - 1, used} end
end
local totals = {1}
for i = 1, n do
  totals[i + 1] = redis.call('INCRBY', KEYS[i], amount)
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[1 + n + i]) end
end
return totals`

// Settle only into counters that still exist: one whose window rolled over is gone, and a
// negative delta must not create a new counter below zero without an expiry.
const ADJUST = `
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[1]) end
end
return 1`

export type RedisStoreOptions = {
  url: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  log: Logger
}

/**
 * ioredis tuned so Redis trouble costs a request at most `commandTimeoutMs`: no offline queue
 * (commands fail at once while disconnected instead of piling up), no per-command retries, and
 * reconnection in the background with a capped backoff.
 */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly client: Redis
  private failing = false

  constructor(private readonly options: RedisStoreOptions) {
    this.client = new Redis(options.url, {
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
      lazyConnect: false,
    })
    // One log line per episode of trouble, not one per failed command.
    this.client.on('error', (err: Error) => this.noteFailure(err))
    this.client.on('ready', () => {
      if (this.failing) options.log.info('redis reachable again')
      this.failing = false
    })
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(key)
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.client.set(key, value, 'PX', Math.max(1, Math.round(ttlMs)))
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(key, value, 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK'
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    // Compare and delete in one step on the server: between a GET and a DEL the lock could expire
    // and be taken by another replica, whose lock we would then delete.
    await this.client.eval(DELETE_IF_EQUALS, 1, key, value)
  }

  async reserve(counters: readonly BudgetCounter[], amount: number): Promise<ReserveResult> {
    const keys = counters.map((c) => c.key)
    const args = [amount, ...counters.map((c) => c.limit), ...counters.map((c) => Math.max(1, Math.round(c.ttlMs)))]
    const result = (await this.client.eval(RESERVE, keys.length, ...keys, ...args)) as number[]
    if (result[0] === 1) return { ok: true, totals: result.slice(1).map(Number) }
    return { ok: false, index: Number(result[1]), used: Number(result[2]) }
  }

  async adjust(keys: readonly string[], delta: number): Promise<void> {
    if (keys.length === 0 || delta === 0) return
    await this.client.eval(ADJUST, keys.length, ...keys, Math.round(delta))
  }

  async ping(): Promise<boolean> {
    try {
      await this.client.ping()
      return true
    } catch (err) {
      this.noteFailure(err as Error)
      return false
    }
  }

  async close(): Promise<void> {
    this.client.disconnect()
  }

  noteFailure(err: Error): void {
    if (this.failing) return
    this.failing = true
    // The URL may carry a password: log only the error's code and message, never the options.
    this.options.log.warn({ code: (err as NodeJS.ErrnoException).code, message: err.message }, 'redis unavailable')
  }
}
