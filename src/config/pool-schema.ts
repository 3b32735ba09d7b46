import { z } from 'zod'
import { count, flag, fraction, httpUrl, label, millis } from './fields.js'

/**
 * One server of a backend's pool: a URL, or `{url, name, weight}`. The name is what metrics and
 * /readyz show (from the config, so label values stay bounded); the weight is its share of traffic.
 */
export const ReplicaSchema = z.union([
  httpUrl.transform((url) => ({ url, name: undefined, weight: 1 })),
  z.strictObject({
    url: httpUrl,
    /** Default `<backend>-<index>`. */
    name: label.optional(),
    weight: z.coerce.number().positive().max(1_000).default(1),
  }),
])

/**
 * `least_outstanding`: two replicas drawn at random (by weight), the one with fewer requests in
 * flight per unit of weight wins. `round_robin`: in turn, by weight. `affinity`: rendezvous hashing
 * on the first image's SHA-256 (the first message's, without images), with bounded load.
 */
export const ROUTING_POLICIES = ['least_outstanding', 'round_robin', 'affinity'] as const

/**
 * Retries go to another replica of the same backend, before any byte of the answer has reached the
 * client, and only while the backend's budget allows: retries in the last `budgetWindowMs` stay
 * under `budgetRatio` of its requests (or `minPerWindow`, so a quiet backend can still retry).
 */
export const RetrySchema = z.strictObject({
  maxPerRequest: count(0).max(16).default(2),
  budgetRatio: fraction.default(0.2),
  budgetWindowMs: millis.default(10_000),
  minPerWindow: count(0).default(3),
})

/**
 * Passive health: `consecutiveFailures` failed requests in a row (connect failures, resets,
 * timeouts, 5xx; one is enough for a replica that has never answered) take a replica out of
 * rotation for `baseMs`, doubled at each ejection in a row, at most `maxMs`.
 */
export const EjectionSchema = z
  .strictObject({
    consecutiveFailures: count(1).default(3),
    baseMs: millis.default(5_000),
    maxMs: millis.default(120_000),
  })
  .refine((e) => e.baseMs <= e.maxMs, { error: 'baseMs must not exceed maxMs', path: ['baseMs'] })

/**
 * vLLM only: poll each replica's Prometheus metrics (`GET <origin><path>`) and route around
 * replicas whose queue holds more than `maxWaiting` requests or whose KV cache is `maxKvCacheUsage`
 * full, while any other replica is not. Off by default.
 */
export const QueueAwareSchema = z.strictObject({
  enabled: flag.default(false),
  /** From the server's origin: vLLM serves `/metrics` beside `/v1`, not under it. */
  path: z.string().startsWith('/').default('/metrics'),
  intervalMs: millis.default(2_000),
  timeoutMs: millis.default(1_000),
  maxWaiting: count(0).default(0),
  maxKvCacheUsage: fraction.default(0.9),
})

export type ReplicaConfig = Readonly<{ name: string; url: string; weight: number }>
export type RoutingPolicy = (typeof ROUTING_POLICIES)[number]
export type RetryConfig = z.output<typeof RetrySchema>
export type EjectionConfig = z.output<typeof EjectionSchema>
export type QueueAwareConfig = z.output<typeof QueueAwareSchema>
