import type { BackendConfig } from '../config/schema.js'
import type { UpstreamClient } from './client.js'
import { visitOnce, visitPeriodically } from './per-backend-timer.js'
import type { BackendPools } from './pools.js'
import { isSaturated, readVllmQueue } from './queue-stats.js'
import { discardAnswerBody, readAnswerBody } from './whole-answer.js'

/** vLLM's /metrics is mostly histograms, some hundreds of kilobytes; anything far larger is not it. */
const MAX_METRICS_BYTES = 8 * 1024 * 1024

/**
 * Queue awareness: every replica of each vLLM backend with `queueAware.enabled` has its Prometheus
 * metrics read every `intervalMs`, and is marked saturated (waiting queue, KV cache) or not. A
 * replica that cannot be read gets no reading, and old readings stop counting: only fresh news
 * of a full queue moves traffic. Timers never keep the process alive.
 */
export function startQueueProbes(
  backends: Readonly<Record<string, BackendConfig>>,
  client: UpstreamClient,
  pools: BackendPools,
): () => void {
  return visitPeriodically(
    backends,
    (backend) => backend.queueAware,
    (name, backend) => pollBackend(name, backend, client, pools),
  )
}

/** Reads every queue-aware replica once; resolves when all have answered or failed (tests await it). */
export async function pollQueues(
  backends: Readonly<Record<string, BackendConfig>>,
  client: UpstreamClient,
  pools: BackendPools,
): Promise<void> {
  await visitOnce(
    backends,
    (backend) => backend.queueAware.enabled,
    (name, backend) => pollBackend(name, backend, client, pools),
  )
}

async function pollBackend(name: string, backend: BackendConfig, client: UpstreamClient, pools: BackendPools): Promise<void> {
  const { path, timeoutMs } = backend.queueAware
  await Promise.all(
    backend.replicas.map(async ({ name: replica }) => {
      try {
        const res = await client.send(name, { replica, path, relativeTo: 'origin', method: 'GET', signal: AbortSignal.timeout(timeoutMs) })
        if (res.status !== 200) {
          discardAnswerBody(res.body)
          return
        }
        const text = await readAnswerBody(res.body, MAX_METRICS_BYTES)
        if (text === undefined) return
        pools.get(name)?.recordQueue(replica, isSaturated(readVllmQueue(text.toString('utf8')), backend.queueAware))
      } catch {
        // No reading: the last one ages out, and health is the probes' business, not this poll's.
      }
    }),
  )
}
