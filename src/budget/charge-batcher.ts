import { amountAt, type Amounts, type BudgetCounter, type BudgetStore, type Charge } from '../store/store.js'

/** How long charges gather before they are sent together. */
export const CHARGE_FLUSH_MS = 200

/**
 * Charged cache hits, sent in batches: every counter's amount (tokens or micro-dollars) summed for CHARGE_FLUSH_MS, then one
 * call per hash tag (team) for all of them. A hit then costs its lookup and a share of one round
 * trip instead of a round trip of its own. Charges are at most once: a batch whose call fails (or
 * whose reply is lost) is not repeated, so an outage can lose hits' charges, never count them twice;
 * and a process that dies loses at most one batch.
 */
export class ChargeBatcher {
  private readonly pending = new Map<string, { counter: BudgetCounter; amount: number }>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly store: Pick<BudgetStore, 'charge'>,
    private readonly onLost: (charges: readonly Charge[], err: unknown) => void,
    private readonly flushMs = CHARGE_FLUSH_MS,
  ) {}

  /** Adds `amounts` (one per counter, or one for all) to what gathers; nothing for an amount of 0. */
  add(counters: readonly BudgetCounter[], amounts: Amounts): void {
    const charges = counters.map((counter, i) => ({ counter, amount: amountAt(amounts, i) })).filter((charge) => charge.amount > 0)
    if (charges.length === 0) return
    for (const { counter, amount } of charges) {
      const held = this.pending.get(counter.key)
      if (held) held.amount += amount
      else this.pending.set(counter.key, { counter, amount })
    }
    if (this.flushMs === 0) void this.flush()
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs).unref()
  }

  /** Sends what has gathered now (also at shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const byTag = new Map<string, Charge[]>()
    for (const charge of this.pending.values()) {
      const tag = /\{[^}]*\}/.exec(charge.counter.key)?.[0] ?? ''
      byTag.set(tag, [...(byTag.get(tag) ?? []), charge])
    }
    this.pending.clear()
    await Promise.all([...byTag.values()].map((charges) => this.store.charge(charges).catch((err: unknown) => this.onLost(charges, err))))
  }
}
