import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { batchedCounter } from './batched-counter.js'
import { batchedHistogram } from './batched-histogram.js'

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const BYTE_BUCKETS = [1_024, 16_384, 131_072, 524_288, 1_048_576, 4_194_304, 16_777_216]

/** Label sets, named once so every call site spells them the same way. */
const WHO = ['key_alias', 'team', 'model'] as const

/**
 * The app's own registry (prom-client "multiple registries"), so two apps in one process never
 * share counters. Every label takes its values from a finite set: route names, status classes,
 * result enums, and names from the config file (key aliases, teams, model labels; anything else
 * becomes `other`). No label ever carries a secret, a hash, a URL or a client-chosen string.
 */
export function createMetrics(options: { defaultMetrics?: boolean; redisPing?: () => Promise<boolean> } = {}) {
  const registry = new Registry()
  const registers = [registry]
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'llava_gateway_' })
  const { redisPing } = options
  if (redisPing) {
    new Gauge({
      name: 'llava_gateway_redis_up',
      help: '1 when Redis answered a PING at scrape time, else 0',
      registers,
      async collect() {
        this.set((await redisPing()) ? 1 : 0)
      },
    })
  }
  return {
    registry,
    requests: batchedCounter({
      name: 'llava_gateway_requests_total',
      help: 'HTTP requests answered, by route, status class, key alias, team and model',
      labelNames: ['route', 'status_class', ...WHO, 'cache'] as const,
      registers,
    }),
    requestDuration: batchedHistogram({
      name: 'llava_gateway_request_duration_seconds',
      help: 'Chat requests: arrival to the last byte of the response',
      labelNames: ['model', 'stream', 'cache'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamDuration: batchedHistogram({
      name: 'llava_gateway_upstream_duration_seconds',
      help: 'Backend calls: request sent to the last byte of the backend response',
      labelNames: ['model', 'backend', 'stream'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    timeToFirstToken: batchedHistogram({
      name: 'llava_gateway_time_to_first_token_seconds',
      help: 'Streams: request arrival to the first content chunk sent to the client',
      labelNames: ['model', 'cache'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    backendFailovers: batchedCounter({
      name: 'llava_gateway_backend_failovers_total',
      help: 'Backends given up on (unreachable, or 429/502/503/504) in favour of the next fallback',
      labelNames: ['model', 'backend'] as const,
      registers,
    }),
    replicaRequests: batchedCounter({
      name: 'llava_gateway_replica_requests_total',
      help: 'Attempts sent to each replica of a backend pool, retries included',
      labelNames: ['backend', 'replica'] as const,
      registers,
    }),
    replicaFailures: batchedCounter({
      name: 'llava_gateway_replica_failures_total',
      help: 'Attempts a replica failed, by kind: unreachable, timeout, http_5xx, http_429, error',
      labelNames: ['backend', 'replica', 'kind'] as const,
      registers,
    }),
    replicaEjections: batchedCounter({
      name: 'llava_gateway_replica_ejections_total',
      help: 'Times a replica was taken out of rotation after failing (passive health)',
      labelNames: ['backend', 'replica'] as const,
      registers,
    }),
    replicaOutstanding: new Gauge({
      name: 'llava_gateway_replica_outstanding_requests',
      help: 'Requests sent to a replica and not yet finished (streams until their last byte)',
      labelNames: ['backend', 'replica'] as const,
      registers,
    }),
    backendRetries: batchedCounter({
      name: 'llava_gateway_backend_retries_total',
      help: 'Retries on another replica of the same backend: sent, or denied by the retry budget',
      labelNames: ['backend', 'result'] as const,
      registers,
    }),
    inFlight: new Gauge({
      name: 'llava_gateway_in_flight_requests',
      help: 'Requests being handled now, streams until their last byte',
      registers,
    }),
    promptTokens: batchedCounter({
      name: 'llava_gateway_prompt_tokens_total',
      help: 'Prompt tokens (text and image) by who used them and where the count came from',
      labelNames: [...WHO, 'source', 'cache'] as const,
      registers,
    }),
    imageTokens: batchedCounter({
      name: 'llava_gateway_image_tokens_total',
      help: 'The image part of prompt tokens, by the model image token policy',
      labelNames: [...WHO, 'cache'] as const,
      registers,
    }),
    completionTokens: batchedCounter({
      name: 'llava_gateway_completion_tokens_total',
      help: 'Completion tokens by who used them and where the count came from',
      labelNames: [...WHO, 'source', 'cache'] as const,
      registers,
    }),
    chargedTokens: batchedCounter({
      name: 'llava_gateway_charged_tokens_total',
      help: 'Tokens charged to a key: all tokens, less cache hits unless cache.hitsCountTowardUsage',
      labelNames: WHO,
      registers,
    }),
    spendUsd: batchedCounter({
      name: 'llava_gateway_spend_usd_total',
      help: 'What charged requests cost at their model pricing, in US dollars: hits only if cache.hitsCountTowardUsage',
      labelNames: WHO,
      registers,
    }),
    budgetRejections: batchedCounter({
      name: 'llava_gateway_budget_rejections_total',
      help: 'Requests refused because a budget would be passed, by the window and scope (key or team) that refused them',
      labelNames: ['key_alias', 'team', 'window', 'scope'] as const,
      registers,
    }),
    budgetStoreFailures: batchedCounter({
      name: 'llava_gateway_budget_store_failures_total',
      help: 'Budget checks the store could not answer, by what the request got (budget.whenStoreFails)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    usageMismatches: batchedCounter({
      name: 'llava_gateway_usage_mismatches_total',
      help: 'Backend-reported prompt tokens differing from the gateway count by more than the tolerance',
      labelNames: ['model'] as const,
      registers,
    }),
    images: batchedCounter({
      name: 'llava_gateway_images_total',
      help: 'Images accepted in requests, by how they arrived',
      labelNames: ['model', 'source'] as const,
      registers,
    }),
    imageFetches: batchedCounter({
      name: 'llava_gateway_image_fetches_total',
      help: 'Image URL downloads by result',
      labelNames: ['result'] as const,
      registers,
    }),
    imageFetchBytes: new Histogram({
      name: 'llava_gateway_image_fetch_bytes',
      help: 'Size of downloaded images, in bytes',
      buckets: BYTE_BUCKETS,
      registers,
    }),
    cacheLookups: batchedCounter({
      name: 'llava_gateway_cache_lookups_total',
      help: 'Response cache lookups by result; error counts failed store reads and writes',
      labelNames: ['result'] as const,
      registers,
    }),
    storeRoundTrips: batchedCounter({
      name: 'llava_gateway_store_round_trips_total',
      help: 'Round trips to Redis, by the step that made them and what it asked (divide by requests_total for the cost per request)',
      labelNames: ['step', 'operation'] as const,
      registers,
    }),
    configReloads: batchedCounter({
      name: 'llava_gateway_config_reloads_total',
      help: 'Config reloads (SIGHUP or POST /admin/reload) by result: applied, or invalid (the running config kept)',
      labelNames: ['result'] as const,
      registers,
    }),
    contentReorders: batchedCounter({
      name: 'llava_gateway_content_reorders_total',
      help: 'User messages whose image parts were moved ahead of their text',
      labelNames: ['model'] as const,
      registers,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
