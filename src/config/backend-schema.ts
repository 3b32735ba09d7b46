import { z } from 'zod'
import { count, flag, httpUrl, millis } from './fields.js'
import { EjectionSchema, QueueAwareSchema, ReplicaSchema, RetrySchema, ROUTING_POLICIES, type ReplicaConfig } from './pool-schema.js'

export const BACKEND_KINDS = ['openai', 'vllm', 'llamacpp', 'ollama', 'tgi'] as const

export const BackendSchema = z
  .strictObject({
    /** One server. Or `urls`: several speaking the same dialect, balanced as one pool. */
    baseUrl: httpUrl.optional(),
    /** A list, or one string of comma-separated URLs (what `${LOCAL_BACKEND_URL}` can hold). */
    urls: z.preprocess(splitUrlList, z.array(ReplicaSchema).min(1).max(64)).optional(),
    routing: z.enum(ROUTING_POLICIES).default('least_outstanding'),
    /** `affinity`: a replica past (1 + this) x the pool's average outstanding requests passes the request on. */
    affinityEpsilon: z.coerce.number().min(0).max(10).default(0.25),
    /** `affinity`: requests a replica may hold beyond that bound before passing one on (noise at low load is not skew). */
    affinitySlack: count(0).max(1_000).default(2),
    retries: RetrySchema.prefault({}),
    ejection: EjectionSchema.prefault({}),
    queueAware: QueueAwareSchema.prefault({}),
    /** Sent upstream as a bearer token; empty sends none. Usually `${SOME_TOKEN}`. */
    apiKey: z.string().default(''),
    kind: z.enum(BACKEND_KINDS).default('openai'),
    /** `data`: forward the exact bytes the gateway checked and hashed; `url`: forward the client's URL. */
    imageForwarding: z.enum(['data', 'url']).default('data'),
    /** Whether the backend accepts `stream_options.include_usage`; absent = decided by kind. */
    streamUsage: flag.optional(),
    timeouts: z
      .strictObject({
        connectMs: millis.default(5_000),
        /** Until the response headers arrive; a non-streaming backend sends them only once it has finished generating. */
        headersMs: millis.default(120_000),
        /** Longest silence between two body chunks. */
        bodyIdleMs: millis.default(60_000),
      })
      .prefault({}),
    /** Keep-alive connections to each replica. */
    maxConnections: count(1).default(128),
    /**
     * Bounds on what this backend may stream: one SSE line (or one event's data), and the whole
     * stream. Past either, the client gets an upstream_bad_response error frame and the backend
     * request is dropped: a broken or hostile backend cannot make the gateway buffer without end.
     */
    maxStreamLineBytes: count(1_024).default(1024 * 1024),
    maxStreamBytes: count(1_024).default(64 * 1024 * 1024),
    /**
     * Active health checks of every replica: `GET <baseUrl><path>` (or `<origin><path>` with
     * `relativeTo: origin`, for vLLM's `/health`) every `intervalMs`; 2xx is healthy. Readiness and
     * /v1/models follow them, and an ejected replica needs one to come back.
     */
    healthCheck: z
      .strictObject({
        enabled: flag.default(true),
        path: z.string().startsWith('/').default('/models'),
        relativeTo: z.enum(['baseUrl', 'origin']).default('baseUrl'),
        intervalMs: millis.default(15_000),
        timeoutMs: millis.default(3_000),
      })
      .prefault({}),
  })
  .refine((b) => (b.baseUrl === undefined) !== (b.urls === undefined), { error: 'give exactly one of `baseUrl` or `urls`' })
  .refine((b) => !b.queueAware.enabled || b.kind === 'vllm', {
    error: 'queueAware reads vLLM metrics: only for kind vllm',
    path: ['queueAware', 'enabled'],
  })

type ParsedBackend = z.output<typeof BackendSchema>

/** `"http://a/v1, http://b/v1"` → two URLs; anything else is left for the schema to judge. */
function splitUrlList(value: unknown): unknown {
  if (typeof value !== 'string') return value
  return value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '')
}

/** A backend as the gateway runs it: its servers as a named pool, `baseUrl` being a pool of one. */
export type BackendConfig = Omit<ParsedBackend, 'baseUrl' | 'urls'> & { replicas: readonly ReplicaConfig[] }

/** Every backend with its replicas named (`<backend>-<index>` unless the config names them), names unique per backend. */
export function nameReplicas(backends: Record<string, ParsedBackend>, ctx: z.core.$RefinementCtx): Record<string, BackendConfig> {
  const named: Record<string, BackendConfig> = {}
  for (const [name, { baseUrl, urls, ...backend }] of Object.entries(backends)) {
    const given = urls ?? [{ url: baseUrl ?? '', name: undefined, weight: 1 }]
    const replicas = given.map((replica, i) => ({ name: replica.name ?? `${name}-${i}`, url: replica.url, weight: replica.weight }))
    const seen = new Set<string>()
    replicas.forEach((replica, i) => {
      if (seen.has(replica.name))
        ctx.addIssue({ code: 'custom', path: [name, 'urls', i, 'name'], message: `duplicate replica name "${replica.name}"` })
      seen.add(replica.name)
    })
    named[name] = { ...backend, replicas }
  }
  return named
}
