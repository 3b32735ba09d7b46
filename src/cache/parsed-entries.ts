import { deepFreeze } from '../lib/deep-freeze.js'
import { LruMap } from '../lib/lru-map.js'
import { parseCachedCompletion, type CachedCompletion } from './entry.js'

/**
 * Cache entries already parsed, by cache key, so a popular answer is parsed once, not on every hit
 * (a JSON.parse and a shape check: about a tenth of a hit's CPU). A memo is used only while the
 * store still holds the very same text: a rewritten or expired entry is parsed afresh. Entries are
 * frozen, since requests share them, and the texts kept here add up to at most `maxChars`: the
 * least recently used go first.
 */
export class ParsedEntries {
  private readonly byKey = new LruMap<{ text: string; entry: CachedCompletion }>()
  private chars = 0

  constructor(private readonly maxChars: number) {}

  parse(key: string, text: string): CachedCompletion | undefined {
    const known = this.byKey.peek(key)
    if (known?.text === text) {
      this.byKey.touch(key)
      return known.entry
    }
    const entry = parseCachedCompletion(text)
    if (known) this.forget(key, known.text)
    if (entry && text.length <= this.maxChars) {
      this.byKey.set(key, { text, entry: deepFreeze(entry) })
      this.chars += text.length
      for (let old = this.byKey.oldest(); old && this.chars > this.maxChars; old = this.byKey.oldest()) this.forget(old.key, old.value.text)
    }
    return entry
  }

  private forget(key: string, text: string): void {
    this.byKey.delete(key)
    this.chars -= text.length
  }
}
