import type { Clock } from '../lib/clock.js'
import type { FailureKind, PoolObserver } from './pool-observer.js'
import type { Replica } from './pool.js'

/** Weight of the newest request in a replica's moving average of latency: about the last ten count. */
const LATENCY_SMOOTHING = 0.2

/**
 * One request's hold on a replica, from the moment it is sent until its answer's last byte (or its
 * failure): it counts in the replica's outstanding requests meanwhile, carries the verdict to the
 * replica's health, and, for a half-open replica, is its one trial.
 */
export class Lease {
  private held = true
  private readonly trial: boolean
  private readonly sentAt: number

  constructor(
    readonly replica: Replica,
    private readonly observer: PoolObserver,
    private readonly clock: Clock,
  ) {
    this.sentAt = clock.now()
    this.trial = replica.health.beginRequest()
    replica.outstanding += 1
    observer.outstanding(replica.backend, replica.name, 1)
    observer.sent(replica.backend, replica.name)
  }

  /** It answered, below 500. */
  succeeded(): void {
    this.replica.health.succeeded()
  }

  /** It failed: unreachable, reset, timed out, or 5xx. */
  failed(kind: FailureKind, reason: string): void {
    this.replica.health.failed(reason)
    this.observer.failed(this.replica.backend, this.replica.name, kind)
  }

  /** A 429: cooled down for `retryAfterMs` when the answer said how long, never held against it. */
  rateLimited(retryAfterMs: number | undefined): void {
    if (retryAfterMs !== undefined) this.replica.health.rateLimited(retryAfterMs)
    this.observer.failed(this.replica.backend, this.replica.name, 'http_429')
  }

  /** Done with the replica; safe to call more than once. A trial that ended with no verdict frees the trial. */
  release(): void {
    if (!this.held) return
    this.held = false
    if (this.trial) this.replica.health.endTrial()
    this.replica.outstanding -= 1
    const took = this.clock.now() - this.sentAt
    this.replica.latencyMs += LATENCY_SMOOTHING * (took - this.replica.latencyMs)
    this.observer.outstanding(this.replica.backend, this.replica.name, -1)
  }
}
