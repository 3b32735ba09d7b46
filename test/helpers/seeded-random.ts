/** A repeatable stream of numbers in [0, 1) from `seed` (a linear congruential generator), and a pick from a list with it. */
export function seededRandom(seed: number): { random: () => number; pick: <T>(items: readonly T[]) => T } {
  let state = seed
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    return state / 2_147_483_648
  }
  return { random, pick: <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T }
}
