import type { Config } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import type { Metrics } from '../metrics/metrics.js'
import { BackendHealth, type ReplicaHealthSnapshot } from './health.js'
import { observeInto, unobserved, type PoolObserver } from './pool-observer.js'
import { ReplicaPool } from './pool.js'

export type ReplicaSnapshot = ReplicaHealthSnapshot & Readonly<{ outstanding: number; saturated?: boolean }>
export type PoolSnapshot = Readonly<{ healthy: boolean; routing: string; replicas: Readonly<Record<string, ReplicaSnapshot>> }>

/**
 * Every backend's pool of replicas and their health: what the upstream step routes with, what the
 * probes report to, and what /readyz and /v1/models read. Built per config: a reload builds anew.
 */
export class BackendPools {
  readonly health: BackendHealth
  private readonly pools: ReadonlyMap<string, ReplicaPool>

  constructor(config: Pick<Config, 'backends'>, options: Readonly<{ clock: Clock; random: () => number; observer: PoolObserver }>) {
    this.health = new BackendHealth(config.backends, options.clock, options.observer.ejected)
    this.pools = new Map(
      Object.entries(config.backends).map(([name, backend]) => [name, new ReplicaPool(name, backend, this.health, options)]),
    )
  }

  get(backend: string): ReplicaPool | undefined {
    return this.pools.get(backend)
  }

  /** Whether any replica of the backend is up (or on trial). */
  isHealthy(backend: string): boolean {
    return this.health.isHealthy(backend)
  }

  /** Each backend's state and each replica's, for /readyz: names from the config, never addresses. */
  snapshot(): Record<string, PoolSnapshot> {
    const health = this.health.snapshot()
    return Object.fromEntries(
      [...this.pools].map(([name, pool]) => {
        const replicas = Object.fromEntries(
          pool.replicas.map((replica) => {
            const state = health[name]?.replicas[replica.name] as ReplicaHealthSnapshot
            const queue = replica.queue ? { saturated: replica.queue.saturated } : {}
            return [replica.name, { ...state, outstanding: replica.outstanding, ...queue }]
          }),
        )
        return [name, { healthy: health[name]?.healthy ?? false, routing: pool.config.routing, replicas }]
      }),
    )
  }
}

export function createBackendPools(
  config: Pick<Config, 'backends'>,
  options: Readonly<{ clock: Clock; metrics?: Metrics; random?: () => number }>,
): BackendPools {
  return new BackendPools(config, {
    clock: options.clock,
    random: options.random ?? Math.random,
    observer: options.metrics ? observeInto(options.metrics) : unobserved,
  })
}
