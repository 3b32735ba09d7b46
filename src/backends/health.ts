import type { BackendConfig } from '../config/schema.js'
import type { Clock } from '../lib/clock.js'
import { ReplicaHealth, type ReplicaHealthSnapshot } from './replica-health.js'

export type { ReplicaHealthSnapshot, ReplicaState } from './replica-health.js'

export type BackendHealthSnapshot = Readonly<{
  /** Whether any of its replicas is: a backend is as available as its best replica. */
  healthy: boolean
  replicas: Readonly<Record<string, ReplicaHealthSnapshot>>
}>

/**
 * Which replicas of which backends can take requests now, from what requests see (passive:
 * consecutive connect failures, resets, timeouts or 5xx eject a replica for a backoff that grows)
 * and from probes (active: see health-probes.ts). Routing, readiness and the model list read it.
 */
export class BackendHealth {
  private readonly backends = new Map<string, ReadonlyMap<string, ReplicaHealth>>()

  constructor(
    backends: Readonly<Record<string, BackendConfig>>,
    private readonly clock: Clock,
    onEject: (backend: string, replica: string) => void = () => {},
  ) {
    for (const [name, backend] of Object.entries(backends)) {
      const replicas = backend.replicas.map((replica): [string, ReplicaHealth] => [
        replica.name,
        new ReplicaHealth({
          ejection: backend.ejection,
          probed: backend.healthCheck.enabled,
          clock,
          onEject: () => onEject(name, replica.name),
        }),
      ])
      this.backends.set(name, new Map(replicas))
    }
  }

  /** One replica's health; undefined for a name the config does not have. */
  replica(backend: string, replica: string): ReplicaHealth | undefined {
    return this.backends.get(backend)?.get(replica)
  }

  isHealthy(backend: string): boolean {
    const now = this.clock.now()
    return [...(this.backends.get(backend)?.values() ?? [])].some((replica) => replica.healthy(now))
  }

  snapshot(): Record<string, BackendHealthSnapshot> {
    const now = this.clock.now()
    return Object.fromEntries(
      [...this.backends].map(([name, replicas]) => [
        name,
        {
          healthy: [...replicas.values()].some((replica) => replica.healthy(now)),
          replicas: Object.fromEntries([...replicas].map(([replica, health]) => [replica, health.snapshot()])),
        },
      ]),
    )
  }
}
