import type { BudgetStore, LeaseRef } from '../store/store.js'

/**
 * Keeps this process's budget leases alive while their requests run: every third of a lease it
 * renews them all in one batch. A process that dies stops renewing, so its leases expire within
 * one lease and the budget is whole again; a live request, however long its stream, keeps its own.
 * The timer runs only while leases are held, and never keeps the process alive.
 */
export class LeaseKeeper {
  private readonly leases = new Map<string, LeaseRef>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly store: Pick<BudgetStore, 'renew'>,
    private readonly leaseMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  get size(): number {
    return this.leases.size
  }

  hold(lease: LeaseRef): void {
    this.leases.set(lease.id, lease)
    if (this.timer) return
    this.timer = setInterval(() => void this.renewAll(), Math.max(1, Math.floor(this.leaseMs / 3)))
    this.timer.unref()
  }

  drop(id: string): void {
    this.leases.delete(id)
    if (this.leases.size === 0) this.stop()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Renews every lease held now; a failure is reported and the next tick tries again. */
  async renewAll(): Promise<void> {
    if (this.leases.size === 0) return
    try {
      await this.store.renew([...this.leases.values()], this.leaseMs)
    } catch (err) {
      this.onError(err)
    }
  }
}
