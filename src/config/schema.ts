import { z } from 'zod'
import { createAddressPolicy } from '../image-fetch/address-policy.js'
import { BudgetPolicySchema, BudgetSchema, ONE_PER_WINDOW, oneBudgetPerWindow, PricingSchema, type BudgetConfig } from './budget-schema.js'
import { CorsSchema } from './cors-schema.js'

import { count, flag, label, millis } from './fields.js'
import { BACKEND_KINDS, BackendSchema, nameReplicas } from './backend-schema.js'

export { BACKEND_KINDS } from './backend-schema.js'

const MetricsSchema = z.strictObject({
  enabled: flag.default(true),
  /** A bearer token Prometheus must send; empty leaves /metrics open (bind it to a private port then). */
  bearerToken: z.string().default(''),
  /** 0 serves /metrics on the main port; another port serves it there only, apart from client traffic. */
  port: count(0).max(65_535).default(0),
})

const CacheSchema = z.strictObject({
  enabled: flag.default(true),
  ttlSeconds: count(1).default(3_600),
  /** Who shares entries: `team` (default), `key` (each API key alone) or `shared` (everyone). */
  scope: z.enum(['team', 'key', 'shared']).default('team'),
  /** `deterministic`: only temperature 0 or a seed; `all`: every request. */
  admit: z.enum(['deterministic', 'all']).default('deterministic'),
  /** Whether tokens served from the cache are charged to the key (budgets, charged-tokens metric). */
  hitsCountTowardUsage: flag.default(false),
  /** Bound of the embedded store when Redis is not configured. */
  memoryMaxBytes: count(1_024).default(256 * 1024 * 1024),
  /** Larger responses are served but not stored. */
  maxEntryBytes: count(1_024).default(1024 * 1024),
  keyPrefix: z.string().default('llava-gateway:'),
  /**
   * With Redis: identical misses on different replicas wait for one backend call (a short lock per
   * key; waiters poll the cache every `pollMs`, for at most `lockWaitMs`, then ask the backend).
   */
  coalesceAcrossReplicas: flag.default(true),
  /** The lock is a lease this long, renewed by its live leader: a dead leader's lock frees within one lease. */
  lockTtlMs: millis.default(5_000),
  lockWaitMs: millis.default(60_000),
  pollMs: millis.default(50),
})

const ServerSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: count(0).max(65_535).default(8080),
  /** Several base64 images fit in 32 MiB (base64 inflates bytes by 4/3). */
  bodyLimitBytes: count(1024).default(32 * 1024 * 1024),
  /** On SIGTERM: how long in-flight requests may run before their connections are closed. */
  shutdownGraceMs: millis.default(10_000),
  /**
   * On SIGTERM: how long to keep serving while /readyz already says 503, so load balancers stop
   * sending before the listener closes (closing at once turns their next probe into "connection refused").
   */
  drainDelayMs: count(0).default(5_000),
  /** Objects and arrays nested deeper than this in a request body: 400 naming the path, before anything parses it. */
  maxJsonDepth: count(2).max(1_000).default(64),
  /** Longest a client may take to send its request headers. */
  headersTimeoutMs: millis.default(10_000),
  /** Longest a client may take to send its whole request, body included: a body dribbled in is cut (408). */
  requestTimeoutMs: millis.default(60_000),
  /** How long an idle keep-alive connection is kept open. */
  keepAliveTimeoutMs: millis.default(5_000),
  /** Connections open at once; past it new ones are refused by the operating system's listen queue. */
  maxConnections: count(1).default(4_096),
  /** API requests handled at once (streams until their last byte); past it: 503 overloaded with Retry-After. Probes are exempt. */
  maxInFlightRequests: count(1).default(1_024),
  /**
   * Large CPU jobs (a body or an image over 4 MiB: read, scanned, decoded, hashed) run this many at
   * a time; small requests never wait for this. One keeps small requests' latency flat under large ones.
   */
  largeWorkConcurrency: count(1).default(1),
  /** Longest a large job waits for its turn; past it: 503 overloaded with Retry-After. */
  largeWorkMaxWaitMs: millis.default(30_000),
  /** Which web pages (origins) browsers may call the gateway from. */
  cors: CorsSchema.prefault({}),
})

const AuthSchema = z.strictObject({
  /** Requests without a key are refused unless this is set explicitly. */
  allowAnonymous: flag.default(false),
})

const RedisSchema = z.strictObject({
  /** Empty (and no clusterNodes): the gateway runs on its embedded in-memory store (single node). */
  url: z.string().default(''),
  /** A Redis Cluster instead of one server: its nodes (`redis://host:port`, any of them will do to find the rest). */
  clusterNodes: z.array(z.string().regex(/^rediss?:\/\//, 'use redis://host:port')).default([]),
  /**
   * A separate Redis for the response cache, which may evict (allkeys-lru): budget counters then
   * stay on `url`, which should not (noeviction, with AOF). Empty: the cache shares `url`.
   */
  cacheUrl: z.string().default(''),
  commandTimeoutMs: millis.default(50),
  connectTimeoutMs: millis.default(1_000),
})

const MiB = 1024 * 1024

const ImageFetchSchema = z
  .strictObject({
    /** Ports an image URL may name; anything else is refused before a connection is made. */
    allowedPorts: z.array(count(1).max(65_535)).min(1).default([80, 443]),
    maxRedirects: count(0).max(10).default(3),
    connectTimeoutMs: millis.default(3_000),
    headersTimeoutMs: millis.default(5_000),
    /** The whole download, redirects included. */
    totalTimeoutMs: millis.default(10_000),
    /** Host names trusted whatever they resolve to (an internal image store). `*.example.com` matches subdomains. */
    allowHosts: z.array(z.string().min(1)).default([]),
    /** Networks (CIDR) trusted even if private, e.g. `10.20.0.0/16` for an image store. */
    allowNetworks: z.array(z.string().min(1)).default([]),
    /** Host names always refused. `*.example.com` matches subdomains. */
    denyHosts: z.array(z.string().min(1)).default([]),
    /** Downloads one request runs at once, and the gateway as a whole. */
    concurrencyPerRequest: count(1).default(4),
    maxConcurrent: count(1).default(64),
  })
  .superRefine((fetch, ctx) => {
    fetch.allowNetworks.forEach((network, i) => {
      try {
        createAddressPolicy({ allowNetworks: [network] })
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['allowNetworks', i], message: (err as Error).message })
      }
    })
  })

const ImagesSchema = z
  .strictObject({
    maxImagesPerRequest: count(0).default(8),
    maxBytesPerImage: count(1).default(20 * MiB),
    /** Each side at least this many pixels: 1x1 images crash some vision backends. */
    minDimension: count(1).default(8),
    maxDimension: count(1).default(16_384),
    /** Width x height; refused from the header alone, before anything decodes it (pixel bombs). */
    maxPixels: count(1).default(40_000_000),
    /** Image bytes all requests together may hold; past it a request waits up to `inFlightWaitMs`, then gets 503. */
    maxInFlightBytes: count(1).default(256 * MiB),
    inFlightWaitMs: count(0).default(2_000),
    fetch: ImageFetchSchema.prefault({}),
  })
  .refine((images) => images.maxBytesPerImage <= images.maxInFlightBytes, {
    error: 'maxBytesPerImage must not exceed maxInFlightBytes',
    path: ['maxBytesPerImage'],
  })
  .refine((images) => images.minDimension <= images.maxDimension, {
    error: 'minDimension must not exceed maxDimension',
    path: ['minDimension'],
  })

const ImageTokensSchema = z.discriminatedUnion('policy', [
  z.strictObject({ policy: z.literal('fixed'), tokensPerImage: count(0).default(576) }),
  z.strictObject({
    policy: z.literal('llava-next'),
    gridPinpoints: z
      .array(z.tuple([count(1), count(1)]))
      .min(1)
      .optional(),
  }),
  z.strictObject({ policy: z.literal('openai-tiles') }),
])

const ModelSchema = z.strictObject({
  id: z.string().min(1),
  backend: z.string().min(1),
  /**
   * Backends tried in order when the one before is unreachable or answers 429/502/503/504, e.g. the
   * hosted API behind a local GPU server. Each may know the model by its own name (`backendModels`).
   */
  fallbacks: z.array(z.string().min(1)).default([]),
  /** The name the backend knows the model by, when it differs (Ollama: `llava:7b`). */
  upstreamModel: z.string().min(1).optional(),
  /** Per-backend names, when fallbacks know the model by different names (Ollama `llava:7b`, vLLM the HF id). */
  backendModels: z.record(z.string(), z.string().min(1)).default({}),
  contentOrder: z.enum(['reorder', 'reject', 'allow']).default('reorder'),
  chatTemplate: z.enum(['llava-1.5', 'plain']).default('llava-1.5'),
  imageTokens: ImageTokensSchema.default({ policy: 'fixed', tokensPerImage: 576 }),
  /**
   * Positions the model has for prompt and answer together (LLaVA-1.5: 4,096). A request whose prompt,
   * plus the max_tokens it asks for, cannot fit is refused (400 context_length_exceeded) before
   * anything is forwarded, and a text too long to fit is refused without being tokenized at all.
   */
  contextWindow: count(1).default(4_096),
  ownedBy: z.string().min(1).default('llava-gateway'),
  /** Which of the model's names metrics use; the id unless set. Only configured models ever become labels. */
  metricsLabel: label.optional(),
  /** US dollars per million prompt, completion and image tokens: what `usd` budgets and the spend metric count. */
  pricing: PricingSchema.optional(),
})

/** Budgets shared by every key of a team, on top of each key's own. */
const TeamSchema = z
  .strictObject({ name: label, budgets: z.array(BudgetSchema).default([]) })
  .refine((team) => oneBudgetPerWindow(team.budgets), ONE_PER_WINDOW)

const KeySchema = z
  .strictObject({
    alias: label,
    team: label.default('default'),
    /** The raw secret, normally `${ENV_VAR}`. Hashed at load and then forgotten; empty disables the key. */
    secret: z.string().optional(),
    /** Or the SHA-256 of the secret, hex: then no secret is ever on disk. */
    sha256: z.hex().length(64).optional(),
    /** Models this key may use; absent means every configured model. */
    models: z.array(z.string().min(1)).optional(),
    /** `admin` may also call /admin/* (reload the config, list keys and usage); `user` may not. */
    role: z.enum(['user', 'admin']).default('user'),
    /** Token and money budgets, enforced atomically before a request is forwarded; none means unlimited. */
    budgets: z.array(BudgetSchema).default([]),
  })
  .refine((k) => (k.secret === undefined) !== (k.sha256 === undefined), {
    error: 'give exactly one of `secret` or `sha256`',
  })
  .refine((k) => oneBudgetPerWindow(k.budgets), ONE_PER_WINDOW)

export const ConfigSchema = z
  .strictObject({
    server: ServerSchema.prefault({}),
    auth: AuthSchema.prefault({}),
    redis: RedisSchema.prefault({}),
    backends: z.record(label, BackendSchema).transform(nameReplicas),
    models: z.array(ModelSchema).min(1),
    keys: z.array(KeySchema).default([]),
    teams: z.array(TeamSchema).default([]),
    budget: BudgetPolicySchema.prefault({}),
    images: ImagesSchema.prefault({}),
    metrics: MetricsSchema.prefault({}),
    cache: CacheSchema.prefault({}),
  })
  // Runs even when other parts of the file failed to parse (zod skips refinements after such
  // failures by default), so one run reports every problem; hence the defensive reads below.
  .superRefine(crossCheck, { when: () => true })

type Ctx = z.core.$RefinementCtx

/** Names that must agree across sections: models name backends, keys name models, ids are unique. */
function crossCheck(value: unknown, ctx: Ctx): void {
  const config = value as { backends?: unknown; models?: unknown; keys?: unknown }
  const backends = config.backends !== null && typeof config.backends === 'object' ? config.backends : {}
  const models = Array.isArray(config.models)
    ? (config.models as Array<{ id?: unknown; backend?: unknown; fallbacks?: unknown; backendModels?: unknown } | null | undefined>)
    : []
  const keys = Array.isArray(config.keys) ? (config.keys as Array<{ alias?: unknown; models?: unknown } | null | undefined>) : []
  const modelIds = new Set<unknown>()
  models.forEach((model, i) => {
    if (typeof model?.backend === 'string' && !(model.backend in backends)) {
      ctx.addIssue({ code: 'custom', path: ['models', i, 'backend'], message: `unknown backend "${model.backend}"` })
    }
    const named = model?.backendModels
    if (named !== null && typeof named === 'object') {
      for (const name of Object.keys(named)) {
        if (!(name in backends))
          ctx.addIssue({ code: 'custom', path: ['models', i, 'backendModels', name], message: `unknown backend "${name}"` })
      }
    }
    if (Array.isArray(model?.fallbacks)) {
      ;(model.fallbacks as unknown[]).forEach((name, j) => {
        if (typeof name === 'string' && !(name in backends)) {
          ctx.addIssue({ code: 'custom', path: ['models', i, 'fallbacks', j], message: `unknown backend "${name}"` })
        }
      })
    }
    if (typeof model?.id === 'string' && modelIds.has(model.id)) {
      ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `duplicate model id "${model.id}"` })
    }
    modelIds.add(model?.id)
  })
  const teams = Array.isArray((value as { teams?: unknown }).teams)
    ? (value as { teams: Array<{ name?: unknown } | null | undefined> }).teams
    : []
  const teamNames = new Set<unknown>()
  teams.forEach((team, i) => {
    if (typeof team?.name === 'string' && teamNames.has(team.name)) {
      ctx.addIssue({ code: 'custom', path: ['teams', i, 'name'], message: `duplicate team "${team.name}"` })
    }
    teamNames.add(team?.name)
  })
  const aliases = new Set<unknown>()
  keys.forEach((key, i) => {
    if (typeof key?.alias === 'string' && aliases.has(key.alias)) {
      ctx.addIssue({ code: 'custom', path: ['keys', i, 'alias'], message: `duplicate key alias "${key.alias}"` })
    }
    aliases.add(key?.alias)
    if (!Array.isArray(key?.models)) return
    ;(key.models as unknown[]).forEach((id, j) => {
      if (typeof id === 'string' && !modelIds.has(id)) {
        ctx.addIssue({ code: 'custom', path: ['keys', i, 'models', j], message: `unknown model "${id}"` })
      }
    })
  })
}

export type ConfigInput = z.input<typeof ConfigSchema>
export type ParsedConfig = z.output<typeof ConfigSchema>
export type ModelConfig = ParsedConfig['models'][number]
export type ImagesConfig = ParsedConfig['images']
export type CacheConfig = ParsedConfig['cache']
export type ImageTokensConfig = ModelConfig['imageTokens']
export type BackendKind = (typeof BACKEND_KINDS)[number]
export type { BackendConfig } from './backend-schema.js'
export type { ReplicaConfig, RoutingPolicy } from './pool-schema.js'

export { BUDGET_WINDOWS, budgetUnit, type BudgetConfig, type BudgetUnit, type BudgetWindow, type PricingConfig } from './budget-schema.js'

/** A key as the running gateway holds it: the secret is gone, only its hash is kept. */
export type KeyConfig = Readonly<{
  alias: string
  team: string
  role: 'user' | 'admin'
  /** Lowercase hex, and no two keys share one (loading disables the second, with a warning). */
  sha256: string
  models: readonly string[] | undefined
  budgets: readonly BudgetConfig[]
}>

/** The validated, frozen configuration the app is built from. */
export type Config = Readonly<Omit<ParsedConfig, 'keys'> & { keys: readonly KeyConfig[] }>
