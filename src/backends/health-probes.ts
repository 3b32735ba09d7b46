import type { BackendConfig } from '../config/schema.js'
import { GatewayError } from '../errors/gateway-error.js'
import { errorCode } from '../lib/network-errors.js'
import type { UpstreamClient } from './client.js'
import type { BackendHealth } from './health.js'
import { discardAnswerBody } from './whole-answer.js'
import { visitOnce, visitPeriodically } from './per-backend-timer.js'

/**
 * Active health checks: every replica of every backend with a `healthCheck` is asked
 * `GET <baseUrl><path>` (or `<origin><path>`) every `intervalMs`; a 2xx counts as a success,
 * anything else (or no answer within `timeoutMs`) as a failure. So a replica ejected by failed
 * requests comes back (on trial) once it answers again, without a client's request being the one
 * that finds out. Timers never keep the process alive.
 */
export function startHealthProbes(
  backends: Readonly<Record<string, BackendConfig>>,
  client: UpstreamClient,
  health: BackendHealth,
): () => void {
  return visitPeriodically(
    backends,
    (backend) => backend.healthCheck,
    (name, backend) => probeBackend(name, backend, client, health),
  )
}

/** Probes every replica of every probed backend once; resolves when all have answered or failed (tests await it). */
export async function probeAll(
  backends: Readonly<Record<string, BackendConfig>>,
  client: UpstreamClient,
  health: BackendHealth,
): Promise<void> {
  await visitOnce(
    backends,
    (backend) => backend.healthCheck.enabled,
    (name, backend) => probeBackend(name, backend, client, health),
  )
}

async function probeBackend(name: string, backend: BackendConfig, client: UpstreamClient, health: BackendHealth): Promise<void> {
  const check = backend.healthCheck
  await Promise.all(
    backend.replicas.map(async ({ name: replica }) => {
      const target = health.replica(name, replica)
      try {
        const res = await client.send(name, {
          replica,
          path: check.path,
          relativeTo: check.relativeTo,
          method: 'GET',
          signal: AbortSignal.timeout(check.timeoutMs),
        })
        discardAnswerBody(res.body)
        if (res.status >= 200 && res.status < 300) target?.probeSucceeded()
        else target?.probeFailed(`probe answered HTTP ${res.status}`)
      } catch (err) {
        // The client's errors are catalogue errors wrapping undici's: the OS-level code says more.
        const code = err instanceof GatewayError ? (errorCode(err.cause) ?? err.code) : (errorCode(err) ?? 'error')
        target?.probeFailed(`probe failed (${code})`)
      }
    }),
  )
}
