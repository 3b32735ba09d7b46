/**
 * Money is counted in whole micro-dollars: budgets, reservations and settlements are integers, so
 * Redis (HINCRBY) and the in-memory ledger add them exactly, and replicas agree to the last digit.
 */
export const MICROS_PER_USD = 1_000_000

export const usdToMicros = (usd: number): number => Math.round(usd * MICROS_PER_USD)

export const microsToUsd = (micros: number): number => micros / MICROS_PER_USD

/** `$5`, `$0.00123`: a micro-dollar amount for a message, without trailing zeros. */
export function formatUsd(micros: number): string {
  return `$${microsToUsd(micros)
    .toFixed(6)
    .replace(/\.?0+$/, '')}`
}

/** Whether a dollar amount has at most 6 decimal places, i.e. is a whole number of micro-dollars. */
export const isWholeMicros = (usd: number): boolean => Number(usd.toFixed(6)) === usd
