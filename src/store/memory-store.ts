import type { Clock } from '../deps.js'
import type { Store } from './store.js'

type Entry = { value: string; expiresAt: number; bytes: number }

/**
 * The single-node default: an LRU bounded in bytes (UTF-16 length x2 is what V8 holds for a string),
 * so a flood of large entries evicts old ones instead of exhausting memory.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  private readonly entries = new Map<string, Entry>() // insertion order = recency order
  private usedBytes = 0

  constructor(
    private readonly maxBytes: number,
    private readonly clock: Clock,
  ) {}

  get bytes(): number {
    return this.usedBytes
  }

  async get(key: string): Promise<string | null> {
    const entry = this.entries.get(key)
    if (!entry) return null
    if (entry.expiresAt <= this.clock.now()) {
      this.remove(key, entry)
      return null
    }
    this.entries.delete(key) // move to the most recent end
    this.entries.set(key, entry)
    return entry.value
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const bytes = 2 * (key.length + value.length)
    const previous = this.entries.get(key)
    if (previous) this.remove(key, previous)
    if (bytes > this.maxBytes) return
    while (this.usedBytes + bytes > this.maxBytes) this.evictOldest()
    this.entries.set(key, { value, expiresAt: this.clock.now() + ttlMs, bytes })
    this.usedBytes += bytes
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if ((await this.get(key)) !== null) return false
    await this.set(key, value, ttlMs)
    return true
  }

  async deleteIfEquals(key: string, value: string): Promise<void> {
    const entry = this.entries.get(key)
    if (entry?.value === value) this.remove(key, entry)
  }

  async ping(): Promise<boolean> {
    return true
  }

  async close(): Promise<void> {
    this.entries.clear()
    this.usedBytes = 0
  }

  private evictOldest(): void {
    const oldest = this.entries.entries().next()
    if (oldest.done) return
    this.remove(oldest.value[0], oldest.value[1])
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    this.usedBytes -= entry.bytes
  }
}
