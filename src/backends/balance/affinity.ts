import type { Candidate } from './candidate.js'
import { rendezvousScore, type HashKey } from './rendezvous.js'

/**
 * Image affinity with bounded load: the key's rendezvous order, first replica whose outstanding
 * requests do not exceed (1 + epsilon) x the pool's average (per unit of weight). The same image
 * keeps reaching the same server (its caches stay warm) until that server is busier than its
 * share; then the next in that image's order takes it, the same next one every time (Mirrokni,
 * Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads"). One pass, no sorting: the
 * replica at or under the average is always within the bound, so there always is one.
 */
export function pickAffinity<T extends Candidate>(candidates: readonly T[], key: HashKey, epsilon: number): T | undefined {
  let load = 0
  let weight = 0
  for (const candidate of candidates) {
    load += candidate.outstanding
    weight += candidate.weight
  }
  const boundPerWeight = ((1 + epsilon) * load) / weight
  let best: T | undefined
  let bestScore = Number.NEGATIVE_INFINITY
  for (const candidate of candidates) {
    if (candidate.outstanding > boundPerWeight * candidate.weight) continue
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
