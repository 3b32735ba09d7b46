import type { ConfigInput } from '../../src/config/schema.js'
import { loadConfig } from '../../src/config/load.js'
import { createApp } from '../../src/app.js'
import type { Clock, Deps } from '../../src/deps.js'
import { createLogger } from '../../src/lib/logger.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import type { Lifecycle } from '../../src/server/lifecycle.js'
import { MemoryStore } from '../../src/store/memory-store.js'
import { createUpstreamClient } from '../../src/backends/client.js'
import { createBackendPools } from '../../src/backends/pools.js'
import { createImageFetcher } from '../../src/image-fetch/image-fetcher.js'
import { closeAfterFile, closeAll } from './close-after-file.js'
import { LoopbackNetwork } from './loopback-network.js'

export const TEST_KEY = 'sk-test-key-for-team-a'
export const OTHER_KEY = 'sk-test-key-for-team-b'
export const MODEL = 'llava-hf/llava-1.5-7b-hf'

/** A config like the default one, pointed at a loopback backend, with two keys on two teams. */
export function testConfig(baseUrl: string, overrides: Partial<ConfigInput> = {}): ConfigInput {
  return {
    backends: { main: { baseUrl, kind: 'openai', timeouts: { connectMs: 1_000, headersMs: 5_000, bodyIdleMs: 5_000 } } },
    models: [{ id: MODEL, backend: 'main' }],
    keys: [
      { alias: 'team-a-key', team: 'team-a', secret: TEST_KEY },
      { alias: 'team-b-key', team: 'team-b', secret: OTHER_KEY },
    ],
    ...overrides,
  }
}

export type TestApp = ReturnType<typeof buildTestApp>

/**
 * The whole app with real parts (undici to a loopback backend, in-memory store), logs silenced.
 * Image downloads go through a LoopbackNetwork: names resolve only as the test says, and nothing
 * is ever dialled off loopback. Parts given in `overrides` are used instead of being built.
 *
 * The app's pools and store (built here or given) are closed after the test file; `close()` closes
 * them sooner. Either way, parts the test closed itself are fine.
 */
export function buildTestApp(config: ConfigInput, overrides: Partial<Deps> = {}, lifecycle?: Lifecycle) {
  const { config: frozen } = loadConfig({}, config)
  const clock: Clock = overrides.clock ?? { now: () => Date.now() }
  const network = new LoopbackNetwork()
  const metrics = overrides.metrics ?? createMetrics({ defaultMetrics: false })
  const deps: Deps = {
    config: frozen,
    store: overrides.store ?? new MemoryStore(16 * 1024 * 1024, clock),
    clock,
    upstreamClient: overrides.upstreamClient ?? createUpstreamClient(frozen),
    imageFetcher: overrides.imageFetcher ?? createImageFetcher(frozen.images, network),
    metrics,
    log: overrides.log ?? createLogger('silent'),
    pools: overrides.pools ?? createBackendPools(frozen, { clock, metrics }),
    ...overrides,
  }
  let closed: Promise<void> | undefined
  const { close } = closeAfterFile({ close: () => (closed ??= closeAll([deps.upstreamClient, deps.imageFetcher, deps.store])) })
  return { app: createApp(deps, lifecycle), deps, network, close }
}

export function chatRequest(body: Record<string, unknown>, key: string | null = TEST_KEY): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
    body: JSON.stringify(body),
  }
}

export const userText = (text: string) => ({ model: MODEL, messages: [{ role: 'user', content: text }] })
