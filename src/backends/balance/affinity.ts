import type { Candidate } from './candidate.js'
import { rendezvousScore, type HashKey } from './rendezvous.js'

/**
 * Image affinity with bounded load: the key's rendezvous order, first replica that has room under
 * its capacity, ceil((1 + epsilon) x the pool's outstanding requests, this one included, x its share
 * of the weight) + slack. The same image keeps reaching the same server (its caches stay warm) until that
 * server is busier than its share; then the next in that image's order takes it, the same next one
 * every time (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads"; HAProxy's
 * hash-balance-factor counts the same way). Counting the new request and rounding up is what keeps a
 * lightly loaded pool from spilling at every second request: with 2 in flight over 3 replicas the
 * plain average is 0.67, and any replica holding one would already be past it. The slack (a few
 * requests) does the rest: a server that batches dozens of sequences hardly notices one or two more,
 * while a cache miss costs it a vision encoder pass; past a few dozen in flight, epsilon governs.
 * One pass, no sorting: the least loaded replica is always under its capacity, so there always is one.
 */
export function pickAffinity<T extends Candidate>(
  candidates: readonly T[],
  key: HashKey,
  bound: Readonly<{ epsilon: number; slack: number }>,
): T | undefined {
  let load = 0
  let weight = 0
  for (const candidate of candidates) {
    load += candidate.outstanding
    weight += candidate.weight
  }
  const capacityPerWeight = ((1 + bound.epsilon) * (load + 1)) / weight
  let best: T | undefined
  let bestScore = Number.NEGATIVE_INFINITY
  for (const candidate of candidates) {
    if (candidate.outstanding >= Math.ceil(capacityPerWeight * candidate.weight) + bound.slack) continue
    const score = rendezvousScore(key, candidate.seed, candidate.weight)
    if (score > bestScore) {
      best = candidate
      bestScore = score
    }
  }
  return best
}

/** Every candidate in the key's rendezvous order, highest score first (for tests and /readyz-style tools). */
export function rendezvousOrder<T extends Candidate>(candidates: readonly T[], key: HashKey): T[] {
  return [...candidates].sort((a, b) => rendezvousScore(key, b.seed, b.weight) - rendezvousScore(key, a.seed, a.weight))
}
