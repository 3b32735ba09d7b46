import type { EjectionConfig } from '../config/pool-schema.js'
import type { Clock } from '../lib/clock.js'

/**
 * `up`: takes requests. `ejected`: out of rotation until its backoff has run out and (when the
 * backend is probed) a probe has answered. `half_open`: back on trial: one request at a time until
 * one succeeds (then `up`) or fails (then `ejected` again, for twice as long).
 */
export type ReplicaState = 'up' | 'ejected' | 'half_open'

export type ReplicaHealthSnapshot = Readonly<{
  state: ReplicaState
  /** Up or half-open: what readiness and the model list count. */
  healthy: boolean
  /** Consecutive failures seen by requests (passive) or probes (active). */
  failures: number
  /** Why it last failed: a code or a short reason, never an address or a credential. */
  lastError?: string
  /** When it last changed between healthy and not (ms since the epoch). */
  since: number
  /** Whether it has ever answered: until it has, one failure is enough to eject it. */
  everUp: boolean
  /** Ejections in a row, each twice as long as the last. */
  ejections: number
  ejectedUntil?: number
  /** A 429's Retry-After: skipped by routing until then, without counting as a failure. */
  coolingUntil?: number
}>

export type ReplicaHealthOptions = Readonly<{
  ejection: EjectionConfig
  /** Whether active probes run: then an ejected replica needs a probe's success before its trial. */
  probed: boolean
  clock: Clock
  onEject?: () => void
}>

/**
 * One replica's health, from what requests see (passive) and what probes see (active). Requests
 * are routed by `pickable`; nothing here blocks or waits.
 */
export class ReplicaHealth {
  private ejected = false
  private ejectedUntil = 0
  private coolingUntil = 0
  private probeAnswered = false
  private trialInFlight = false
  private failures = 0
  private lastError: string | undefined
  private since: number
  private everUp = false
  private ejections = 0

  constructor(private readonly options: ReplicaHealthOptions) {
    // Up until shown otherwise, so a gateway whose probes are off is not unready for ever.
    this.since = options.clock.now()
  }

  state(now: number): ReplicaState {
    if (!this.ejected) return 'up'
    return now >= this.ejectedUntil && (this.probeAnswered || !this.options.probed) ? 'half_open' : 'ejected'
  }

  /** Whether routing may send it a request now: up and not cooling down, or half-open with no trial under way. */
  pickable(now: number): boolean {
    if (!this.ejected) return now >= this.coolingUntil
    return !this.trialInFlight && this.state(now) === 'half_open'
  }

  healthy(now: number): boolean {
    return this.state(now) !== 'ejected'
  }

  /** A request is on its way to it; a half-open replica's is its trial. Returns whether it is one. */
  beginRequest(): boolean {
    if (this.trialInFlight || this.state(this.options.clock.now()) !== 'half_open') return false
    this.trialInFlight = true
    return true
  }

  /** A trial that ended with no verdict (the client left): the next request may be the trial. */
  endTrial(): void {
    this.trialInFlight = false
  }

  /** It answered (below 500). An ejected replica that answers (a trial, or a last resort) is up again. */
  succeeded(): void {
    this.failures = 0
    this.everUp = true
    this.trialInFlight = false
    if (!this.ejected) return
    this.ejected = false
    this.probeAnswered = false
    this.since = this.options.clock.now()
  }

  /**
   * It failed: unreachable, reset, timed out or 5xx. Three in a row eject a replica that was
   * answering; one is enough for one that never has; a failed trial ejects it again, for longer.
   */
  failed(reason: string): void {
    this.failures += 1
    this.lastError = reason
    const wasTrial = this.trialInFlight
    this.trialInFlight = false
    if (this.ejected ? wasTrial : !this.everUp || this.failures >= this.options.ejection.consecutiveFailures) this.eject()
  }

  /** A probe answered 2xx: an up replica's failures are forgiven; an ejected one may have its trial once its backoff is over. */
  probeSucceeded(): void {
    this.everUp = true
    if (this.ejected) this.probeAnswered = true
    else this.failures = 0
  }

  /** A probe failed: it counts like a failed request while the replica is up; an ejected one stays out. */
  probeFailed(reason: string): void {
    if (!this.ejected) {
      this.failed(reason)
      return
    }
    this.probeAnswered = false
    this.lastError = reason
  }

  /** A 429 with Retry-After: left alone that long (at most the ejection cap), without being held against it. */
  rateLimited(ms: number): void {
    const until = this.options.clock.now() + Math.min(ms, this.options.ejection.maxMs)
    this.coolingUntil = Math.max(this.coolingUntil, until)
  }

  snapshot(): ReplicaHealthSnapshot {
    const now = this.options.clock.now()
    return {
      state: this.state(now),
      healthy: this.healthy(now),
      failures: this.failures,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      since: this.since,
      everUp: this.everUp,
      ejections: this.ejections,
      ...(this.ejected ? { ejectedUntil: this.ejectedUntil } : {}),
      ...(this.coolingUntil > now ? { coolingUntil: this.coolingUntil } : {}),
    }
  }

  private eject(): void {
    const now = this.options.clock.now()
    const { baseMs, maxMs } = this.options.ejection
    // A replica that stayed up a whole maxMs since it last came back starts over at baseMs.
    if (!this.ejected && now - this.since >= maxMs) this.ejections = 0
    this.ejections += 1
    this.ejected = true
    this.ejectedUntil = now + Math.min(maxMs, baseMs * 2 ** (this.ejections - 1))
    this.probeAnswered = false
    this.since = now
    this.options.onEject?.()
  }
}
