import type { Logger } from 'pino'
import type { Config } from './config/schema.js'
import type { ImageFetcher } from './image-fetch/image-fetcher.js'
import type { Metrics } from './metrics/metrics.js'
import type { Store } from './store/store.js'
import type { UpstreamClient } from './backends/client.js'

export type Clock = { now(): number }
export const systemClock: Clock = { now: () => Date.now() }

/** Everything the app is built from; tests swap any of it. Nothing in src/ reaches for a global. */
export type Deps = Readonly<{
  config: Config
  store: Store
  clock: Clock
  upstream: UpstreamClient
  /** Downloads image URLs; built with the network it may use, so tests keep it on loopback. */
  images: ImageFetcher
  metrics: Metrics
  log: Logger
}>
