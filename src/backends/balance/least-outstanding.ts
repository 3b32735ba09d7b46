import type { Candidate } from './candidate.js'

/**
 * Power of two random choices: two distinct replicas drawn at random in proportion to their
 * weights, and the one with fewer outstanding requests per unit of weight takes the request. Ties
 * (common: counts are small integers) go to the one whose requests have been finishing sooner, so a
 * slow replica does not get every other request while the pool is lightly loaded. Nearly as even as asking every replica, without herding every gateway onto the
 * one that looked idlest a moment ago (Mitzenmacher, "The Power of Two Choices").
 */
export function pickLeastOutstanding<T extends Candidate>(candidates: readonly T[], random: () => number): T | undefined {
  if (candidates.length < 2) return candidates[0]
  let total = 0
  for (const candidate of candidates) total += candidate.weight
  const first = drawByWeight(candidates, total, random(), undefined)
  const second = drawByWeight(candidates, total - first.weight, random(), first)
  const firstLoad = first.outstanding * second.weight
  const secondLoad = second.outstanding * first.weight
  if (firstLoad !== secondLoad) return secondLoad < firstLoad ? second : first
  return second.latencyMs < first.latencyMs ? second : first
}

/** The candidate under `u` (0 <= u < 1) on the line of weights, `skip` left out of it. */
function drawByWeight<T extends Candidate>(candidates: readonly T[], total: number, u: number, skip: T | undefined): T {
  let left = u * total
  let last: T | undefined
  for (const candidate of candidates) {
    if (candidate === skip) continue
    last = candidate
    left -= candidate.weight
    if (left < 0) return candidate
  }
  return last as T // rounding put u * total on the very end of the line: the last one
}
