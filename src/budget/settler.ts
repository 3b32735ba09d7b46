import type { Amounts, BudgetStore, LeaseRef } from '../store/store.js'

/** First retry after this long, doubling up to `MAX_BACKOFF_MS`. */
const FIRST_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 5_000

export type SettlerOptions = {
  /** How long to keep trying: past the store's late-settle window a settle changes nothing anyway. */
  retryForMs: number
  now(): number
  /** Told when a settlement is given up on: its cost is not counted (never counted twice). */
  onAbandon(lease: LeaseRef, err: unknown): void
}

/**
 * Ends leases, whatever the store is doing. Settling is idempotent by lease id, so a call whose
 * reply was lost (a timeout after Redis ran it) is simply sent again, with backoff, until it lands
 * or the store's late-settle window has passed. The same path gives back a reservation whose own
 * outcome was unknown: settling it at 0 releases it if it ran, and changes nothing if it did not.
 */
export class Settler {
  private pending = 0
  private idleWaiters: Array<() => void> = []

  constructor(
    private readonly store: Pick<BudgetStore, 'settle'>,
    private readonly options: SettlerOptions,
  ) {}

  /** Settlements not yet landed. */
  get inFlight(): number {
    return this.pending
  }

  settle(lease: LeaseRef, actual: Amounts): void {
    this.pending++
    void this.attempt(lease, actual, this.options.now() + this.options.retryForMs, FIRST_BACKOFF_MS)
  }

  /** Resolves once every settlement has landed or been given up on (shutdown, tests). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private async attempt(lease: LeaseRef, actual: Amounts, giveUpAt: number, backoff: number): Promise<void> {
    try {
      await this.store.settle(lease, actual)
    } catch (err) {
      if (this.options.now() + backoff < giveUpAt) {
        setTimeout(() => void this.attempt(lease, actual, giveUpAt, Math.min(backoff * 2, MAX_BACKOFF_MS)), backoff).unref()
        return
      }
      this.options.onAbandon(lease, err)
    }
    this.done()
  }

  private done(): void {
    this.pending--
    if (this.pending > 0) return
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }
}
