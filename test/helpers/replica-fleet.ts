import { createBackendPools } from '../../src/backends/pools.js'
import { loadConfig } from '../../src/config/load.js'
import type { ConfigInput } from '../../src/config/schema.js'
import type { Clock } from '../../src/deps.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { closeAfterFile } from './close-after-file.js'
import { FakeUpstream } from './fake-upstream.js'
import { buildTestApp, chatRequest, testConfig } from './test-app.js'

/** A clock the test moves: backoffs and retry windows pass when the test says, not when the wall clock does. */
export class ManualClock implements Clock {
  private offset = 0
  private frozenAt: number | undefined
  now(): number {
    return (this.frozenAt ?? Date.now()) + this.offset
  }
  advance(ms: number): void {
    this.offset += ms
  }
  /** Stops the wall clock's part: only `advance` moves time from now on. */
  freeze(): void {
    this.frozenAt = Date.now()
  }
}

/** Mulberry32: a seeded random source, so a balancing test draws the same choices every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export const REPLICA_NAMES = ['gpu0', 'gpu1', 'gpu2'] as const

/**
 * Three fake replicas on loopback (real HTTP servers) behind one backend `main`, and the whole app
 * in front of them, with a seeded random source and a clock the test moves. `backend` adds to or
 * overrides the backend's config (routing, retries, ejection, health checks: off unless asked for).
 */
export async function startFleet(
  backend: Record<string, unknown> | ((urls: readonly string[]) => Record<string, unknown>) = {},
  overrides: Partial<ConfigInput> = {},
) {
  const replicas = await Promise.all(REPLICA_NAMES.map(() => FakeUpstream.start()))
  for (const replica of replicas) closeAfterFile(replica)
  const base = testConfig(replicas[0]?.baseUrl ?? '', overrides)
  const config: ConfigInput = {
    ...base,
    backends: {
      main: {
        kind: 'vllm',
        timeouts: { connectMs: 1_000, headersMs: 5_000, bodyIdleMs: 5_000 },
        healthCheck: { enabled: false },
        urls: replicas.map((replica, i) => ({ url: replica.baseUrl, name: REPLICA_NAMES[i] })),
        ...(typeof backend === 'function' ? backend(replicas.map((replica) => replica.baseUrl)) : backend),
      },
    },
  }
  const clock = new ManualClock()
  const metrics = createMetrics({ defaultMetrics: false })
  const pools = createBackendPools(loadConfig({}, config).config, { clock, metrics, random: seededRandom(42) })
  const built = buildTestApp(config, { clock, metrics, pools })
  /** Resolves once `n` completion requests have arrived, over all replicas. */
  const untilArrivals = async (n: number) => {
    const arrived = () => replicas.reduce((sum, replica) => sum + replica.calls.length, 0)
    while (arrived() < n) await Promise.race(replicas.map((replica) => replica.untilCalls(replica.calls.length + 1)))
  }
  /** Completion requests each replica has received, in replica order. */
  const counts = () => replicas.map((replica) => replica.calls.length)
  const ask = async (body: Record<string, unknown>) => await built.app.request('/v1/chat/completions', chatRequest(body))
  return { ...built, replicas, clock, counts, ask, untilArrivals }
}

/** Runs `total` tasks, `concurrency` at a time, in index order; resolves with their results. */
export async function inParallel<T>(total: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(total)
  let next = 0
  const worker = async () => {
    while (next < total) {
      const i = next++
      results[i] = await task(i)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return results
}
