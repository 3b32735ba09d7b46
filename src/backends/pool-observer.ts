import type { Metrics } from '../metrics/metrics.js'

/** Why an attempt on a replica failed, as a bounded label value. */
export type FailureKind = 'unreachable' | 'timeout' | 'http_5xx' | 'http_429' | 'error'

/** What pools report as requests come and go; metrics listen, tests may too. Names come from the config. */
export type PoolObserver = Readonly<{
  sent(backend: string, replica: string): void
  failed(backend: string, replica: string, kind: FailureKind): void
  ejected(backend: string, replica: string): void
  outstanding(backend: string, replica: string, delta: 1 | -1): void
  retry(backend: string, result: 'sent' | 'denied'): void
}>

export const unobserved: PoolObserver = {
  sent: () => {},
  failed: () => {},
  ejected: () => {},
  outstanding: () => {},
  retry: () => {},
}

/** The per-replica metrics, fed by the pools. */
export function observeInto(metrics: Metrics): PoolObserver {
  return {
    sent: (backend, replica) => metrics.replicaRequests.inc({ backend, replica }),
    failed: (backend, replica, kind) => metrics.replicaFailures.inc({ backend, replica, kind }),
    ejected: (backend, replica) => metrics.replicaEjections.inc({ backend, replica }),
    outstanding: (backend, replica, delta) => metrics.replicaOutstanding.inc({ backend, replica }, delta),
    retry: (backend, result) => metrics.backendRetries.inc({ backend, result }),
  }
}
