import type { BackendConfig } from '../config/schema.js'
import { GatewayError } from '../errors/gateway-error.js'
import { errorCode } from '../lib/network-errors.js'
import type { UpstreamClient } from './client.js'
import type { BackendHealth } from './health.js'

/**
 * Active health checks: every backend with a `healthCheck` is asked `GET <baseUrl><path>` every
 * `intervalMs`; a 2xx counts as a success, anything else (or no answer within `timeoutMs`) as a
 * failure. So a backend marked down by failed requests comes back once it answers again, without
 * a client's request being the one that finds out. Timers never keep the process alive.
 */
export function startHealthProbes(
  backends: Readonly<Record<string, BackendConfig>>,
  client: UpstreamClient,
  health: BackendHealth,
): () => void {
  const timers: NodeJS.Timeout[] = []
  for (const [name, backend] of Object.entries(backends)) {
    const check = backend.healthCheck
    if (!check.enabled) continue
    const probe = async () => {
      try {
        const res = await client.send(name, { path: check.path, method: 'GET', signal: AbortSignal.timeout(check.timeoutMs) })
        res.body.resume()
        if (res.status >= 200 && res.status < 300) health.succeeded(name)
        else health.failed(name, `probe answered HTTP ${res.status}`)
      } catch (err) {
        // The client's errors are catalogue errors wrapping undici's: the OS-level code says more.
        const code = err instanceof GatewayError ? (errorCode(err.cause) ?? err.code) : (errorCode(err) ?? 'error')
        health.failed(name, `probe failed (${code})`)
      }
    }
    void probe()
    const timer = setInterval(() => void probe(), check.intervalMs)
    timer.unref()
    timers.push(timer)
  }
  return () => timers.forEach(clearInterval)
}
