import type { UsageSource } from '../completion/usage.js'
import { isWholeCompletion, type WholeCompletion } from '../completion/whole-completion.js'

/** A whole completion as the cache keeps it: where its usage came from, and when it was stored (for `Age`). */
export type CachedCompletion = WholeCompletion & { usageSource: UsageSource; storedAt: number }

export function toCacheEntry(answer: WholeCompletion, usageSource: UsageSource, storedAt: number): CachedCompletion {
  return { ...answer, usageSource, storedAt }
}

export function parseCachedCompletion(text: string): CachedCompletion | undefined {
  try {
    const value: unknown = JSON.parse(text)
    if (isWholeCompletion(value) && typeof (value as { storedAt?: unknown }).storedAt === 'number') return value as CachedCompletion
  } catch {
    // A damaged entry is a miss, never an error.
  }
  return undefined
}
