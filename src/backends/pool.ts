import type { BackendConfig } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import { pickAffinity } from './balance/affinity.js'
import type { Candidate } from './balance/candidate.js'
import { pickLeastOutstanding } from './balance/least-outstanding.js'
import type { HashKey } from './balance/rendezvous.js'
import { seedOf } from './balance/rendezvous.js'
import { pickRoundRobin } from './balance/round-robin.js'
import type { BackendHealth } from './health.js'
import { Lease } from './lease.js'
import type { PoolObserver } from './pool-observer.js'
import type { ReplicaHealth } from './replica-health.js'
import { RetryBudget } from './retry-budget.js'

export type Replica = Candidate & {
  readonly backend: string
  readonly health: ReplicaHealth
  /** The latest queue reading (queue awareness only), and when it was taken. */
  queue: { saturated: boolean; at: number } | undefined
}

export type PickRequest = Readonly<{
  /** The first image's SHA-256 (or the first message's), for `affinity` routing. */
  affinityKey?: HashKey | undefined
  /** Replicas this request has already tried: never twice on the same one. */
  exclude?: ReadonlySet<Replica> | undefined
  /** When no replica is healthy, take an unhealthy one rather than none (the request's last chance). */
  lastResort?: boolean | undefined
}>

export type PoolOptions = Readonly<{ clock: Clock; random: () => number; observer: PoolObserver }>

/** Readings older than this many polling intervals are not trusted: the replica may have drained since. */
const STALE_READINGS = 3

/**
 * One backend's replicas, as routing sees them: which may take a request now (health, cooling down
 * after a 429), how loaded each is, and the backend's policy for choosing among them.
 */
export class ReplicaPool {
  readonly replicas: readonly Replica[]
  readonly retryBudget: RetryBudget
  private readonly affinityBound: Readonly<{ epsilon: number; slack: number }>
  /** Reused by every pick: picking allocates nothing. */
  private readonly candidates: Replica[] = []

  constructor(
    readonly backend: string,
    readonly config: BackendConfig,
    health: BackendHealth,
    private readonly options: PoolOptions,
  ) {
    this.replicas = config.replicas.map((replica) => ({
      backend,
      name: replica.name,
      weight: replica.weight,
      seed: seedOf(replica.name),
      outstanding: 0,
      current: 0,
      latencyMs: 0,
      health: health.replica(backend, replica.name) as ReplicaHealth,
      queue: undefined,
    }))
    this.retryBudget = new RetryBudget(config.retries, options.clock)
    this.affinityBound = { epsilon: config.affinityEpsilon, slack: config.affinitySlack }
  }

  /** The replica the next attempt goes to; undefined when none may take it. */
  pick(request: PickRequest = {}): Replica | undefined {
    const now = this.options.clock.now()
    const candidates = this.candidates
    candidates.length = 0
    for (const replica of this.replicas) if (!request.exclude?.has(replica) && replica.health.pickable(now)) candidates.push(replica)
    if (candidates.length === 0 && request.lastResort === true)
      for (const replica of this.replicas) if (!request.exclude?.has(replica)) candidates.push(replica)
    if (this.config.queueAware.enabled) keepUnsaturated(candidates, now - STALE_READINGS * this.config.queueAware.intervalMs)
    switch (this.config.routing) {
      case 'round_robin':
        return pickRoundRobin(candidates)
      case 'affinity':
        if (request.affinityKey) return pickAffinity(candidates, request.affinityKey, this.affinityBound)
        return pickLeastOutstanding(candidates, this.options.random)
      case 'least_outstanding':
        return pickLeastOutstanding(candidates, this.options.random)
    }
  }

  /** A request's first attempt on this backend: what the retry budget is a share of. */
  firstAttempt(): void {
    this.retryBudget.recordRequest()
  }

  /**
   * Whether the request may try another replica after `retries` retries: within the backend's
   * `retries.maxPerRequest` and its retry budget. A retry allowed is counted against the budget.
   */
  allowRetry(retries: number): boolean {
    if (retries >= this.config.retries.maxPerRequest) return false
    const allowed = this.retryBudget.canRetry()
    if (allowed) this.retryBudget.spendRetry()
    this.options.observer.retry(this.backend, allowed ? 'sent' : 'denied')
    return allowed
  }

  /** A hold on `replica` for one attempt: release it when the answer's last byte is in (or the attempt failed). */
  lease(replica: Replica): Lease {
    return new Lease(replica, this.options.observer, this.options.clock)
  }

  /** A queue reading of one replica (queue awareness): saturated ones are passed over while others are not. */
  recordQueue(replica: string, saturated: boolean): void {
    const found = this.replicas.find((r) => r.name === replica)
    if (found) found.queue = { saturated, at: this.options.clock.now() }
  }
}

/** Drops saturated replicas (by fresh readings) from `candidates`, in place, unless every one is. */
function keepUnsaturated(candidates: Replica[], freshSince: number): void {
  const saturated = (replica: Replica) => replica.queue !== undefined && replica.queue.saturated && replica.queue.at >= freshSince
  if (!candidates.some((replica) => !saturated(replica))) return
  let kept = 0
  for (const replica of candidates) if (!saturated(replica)) candidates[kept++] = replica
  candidates.length = kept
}
