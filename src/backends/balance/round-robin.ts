import type { Candidate } from './candidate.js'

/**
 * Smooth weighted round robin (nginx's): each pick adds every candidate's weight to its score and
 * takes the highest, which then gives back the total. Weights 5:1:1 give a a b a c a a, not a a a a a b c.
 */
export function pickRoundRobin<T extends Candidate>(candidates: readonly T[]): T | undefined {
  let best: T | undefined
  let total = 0
  for (const candidate of candidates) {
    candidate.current += candidate.weight
    total += candidate.weight
    if (best === undefined || candidate.current > best.current) best = candidate
  }
  if (best) best.current -= total
  return best
}
