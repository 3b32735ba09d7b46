import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

/**
 * The app's own registry (prom-client "multiple registries"), so two apps in one test process never
 * share counters. Every label takes values from a finite set: route names, status classes and names
 * from the config file.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry()
  const registers = [registry]
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'llava_gateway_' })
  return {
    registry,
    requests: new Counter({
      name: 'llava_gateway_requests_total',
      help: 'HTTP requests answered, by route, status class, key alias and model',
      labelNames: ['route', 'status_class', 'key_alias', 'team', 'model'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'llava_gateway_request_duration_seconds',
      help: 'Time from request arrival to the end of the response body',
      labelNames: ['route', 'model', 'stream'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    inFlight: new Gauge({
      name: 'llava_gateway_in_flight_requests',
      help: 'Requests being handled now, streams until their last byte',
      registers,
    }),
    contentReorders: new Counter({
      name: 'llava_gateway_content_reorders_total',
      help: 'User messages whose image parts were moved ahead of their text',
      labelNames: ['model'] as const,
      registers,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
