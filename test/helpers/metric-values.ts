import type { Counter } from 'prom-client'

/** The sum of a counter's series whose labels include `match` (all series when empty). */
export async function counterSum<T extends string>(counter: Counter<T>, match: Partial<Record<T, string>> = {}): Promise<number> {
  const { values } = await counter.get()
  return values
    .filter((v) => Object.entries(match).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
    .reduce((sum, v) => sum + v.value, 0)
}
