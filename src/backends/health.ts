import type { Clock } from '../lib/clock.js'

export type TargetHealth = Readonly<{
  healthy: boolean
  /** Consecutive failures seen by requests (passive) or probes (active). */
  failures: number
  /** Why it was last marked down: a code or a short reason, never an address or a credential. */
  lastError?: string
  /** When it last changed between healthy and not (ms since the epoch). */
  since: number
  /** Whether it has ever answered: until it has, one failure is enough to mark it down. */
  everUp: boolean
}>

export type HealthOptions = Readonly<{
  /** Consecutive failures (of requests or probes) that mark a target down. */
  failuresToMarkDown: number
  clock: Clock
}>

/**
 * Which backends can take requests now, from what requests see (passive: consecutive connect
 * failures, resets, timeouts or 5xx mark one down; any success brings it back) and from probes
 * (active: see HealthProbes). Readiness and the model list read it; nothing blocks on it.
 */
export class BackendHealth {
  private readonly targets = new Map<string, TargetHealth>()

  constructor(
    names: Iterable<string>,
    private readonly options: HealthOptions,
  ) {
    const now = options.clock.now()
    // Healthy until shown otherwise, so a gateway whose probes are off is not unready for ever.
    for (const name of names) this.targets.set(name, { healthy: true, failures: 0, since: now, everUp: false })
  }

  isHealthy(name: string): boolean {
    return this.targets.get(name)?.healthy ?? false
  }

  succeeded(name: string): void {
    const target = this.targets.get(name)
    if (!target) return
    this.targets.set(name, { healthy: true, failures: 0, since: target.healthy ? target.since : this.options.clock.now(), everUp: true })
  }

  failed(name: string, reason: string): void {
    const target = this.targets.get(name)
    if (!target) return
    const failures = target.failures + 1
    // Three in a row mark a backend that was answering down; one is enough for one that never has.
    const healthy = target.healthy && target.everUp && failures < this.options.failuresToMarkDown
    this.targets.set(name, {
      healthy,
      failures,
      lastError: reason,
      since: healthy === target.healthy ? target.since : this.options.clock.now(),
      everUp: target.everUp,
    })
  }

  snapshot(): Record<string, TargetHealth> {
    return Object.fromEntries(this.targets)
  }
}

/** Three consecutive failures mark a backend down: one reset is bad luck, three in a row is a backend in trouble. */
export const FAILURES_TO_MARK_DOWN = 3

export function createBackendHealth(backends: Readonly<Record<string, unknown>>, clock: Clock): BackendHealth {
  return new BackendHealth(Object.keys(backends), { failuresToMarkDown: FAILURES_TO_MARK_DOWN, clock })
}
