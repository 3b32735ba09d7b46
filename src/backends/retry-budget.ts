import type { RetryConfig } from '../config/pool-schema.js'
import type { Clock } from '../lib/clock.js'

/** Slices of the window: a retry allowed or refused is decided on counts at most a tenth of a window stale. */
const SLICES = 10

/**
 * A backend's retry budget: retries in the last `budgetWindowMs` stay under `budgetRatio` of its
 * requests (at least `minPerWindow`), so a fleet that fails everything gets at most that many
 * extra requests from the gateway, not one per replica per request (gRPC's retry throttling and
 * Envoy's retry budgets work this way). Counts live in ring slices of the window.
 */
export class RetryBudget {
  private readonly requests = new Array<number>(SLICES).fill(0)
  private readonly retries = new Array<number>(SLICES).fill(0)
  private readonly sliceMs: number
  private slice = Number.NEGATIVE_INFINITY

  constructor(
    private readonly config: Pick<RetryConfig, 'budgetRatio' | 'budgetWindowMs' | 'minPerWindow'>,
    private readonly clock: Clock,
  ) {
    this.sliceMs = Math.max(1, config.budgetWindowMs / SLICES)
  }

  /** A request's first attempt. */
  recordRequest(): void {
    const at = this.advance()
    this.requests[at] = (this.requests[at] ?? 0) + 1
  }

  /** Whether one more retry fits the budget now. */
  canRetry(): boolean {
    this.advance()
    const allowed = Math.max(this.config.minPerWindow, this.config.budgetRatio * sum(this.requests))
    return sum(this.retries) + 1 <= allowed
  }

  /** A retry was sent. */
  spendRetry(): void {
    const at = this.advance()
    this.retries[at] = (this.retries[at] ?? 0) + 1
  }

  /** The ring index of now, after clearing the slices that fell out of the window since the last call. */
  private advance(): number {
    const slice = Math.floor(this.clock.now() / this.sliceMs)
    for (let s = Math.max(this.slice + 1, slice - SLICES + 1); s <= slice; s++) {
      this.requests[s % SLICES] = 0
      this.retries[s % SLICES] = 0
    }
    this.slice = Math.max(this.slice, slice)
    return slice % SLICES
  }
}

function sum(values: readonly number[]): number {
  let total = 0
  for (const value of values) total += value
  return total
}
