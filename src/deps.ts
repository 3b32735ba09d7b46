import type { Logger } from 'pino'
import type { UpstreamClient } from './backends/client.js'
import type { BackendPools } from './backends/pools.js'
import type { Config } from './config/schema.js'
import type { ImageFetcher } from './image-fetch/image-fetcher.js'
import type { Clock } from './lib/clock.js'
import type { WorkGate } from './lib/work-gate.js'
import type { Labeler } from './metrics/labels.js'
import type { TokenCounter } from './meter/token-counter.js'
import type { Metrics } from './metrics/metrics.js'
import type { Store } from './store/store.js'

export { systemClock, type Clock } from './lib/clock.js'

/** Everything the app is built from; tests swap any of it. Nothing in src/ reaches for a global. */
export type Deps = Readonly<{
  config: Config
  store: Store
  clock: Clock
  /** Sends requests to the configured backends, one keep-alive pool each. */
  upstreamClient: UpstreamClient
  /** Downloads image URLs; built with the network it may use, so tests keep it on loopback. */
  imageFetcher: ImageFetcher
  metrics: Metrics
  log: Logger
  /**
   * Each backend's replicas: how requests are balanced among them, and which can take requests now
   * (requests report to it, probes started by main too). Built from `config`, like `upstreamClient`.
   */
  pools: BackendPools
}>

/** What the steps are built from: the deps, plus what `createApp` derives from the config once. */
export type AppDeps = Deps & Readonly<{ labels: Labeler; tokens: TokenCounter; largeWork: WorkGate }>
