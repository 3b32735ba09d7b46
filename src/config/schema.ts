import { z } from 'zod'

/** Strings from `${VAR}` interpolation arrive as text: accept "true"/"false" as well as real booleans. */
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
const count = (min: number) => z.coerce.number().int().min(min)
const millis = count(1)
const label = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'use 1-64 letters, digits, "_", ".", ":" or "-"')

const ServerSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: count(0).max(65_535).default(8080),
  /** Several base64 images fit in 32 MiB (base64 inflates bytes by 4/3). */
  bodyLimitBytes: count(1024).default(32 * 1024 * 1024),
  /** On SIGTERM: how long in-flight requests may run before their connections are closed. */
  shutdownGraceMs: millis.default(10_000),
})

const AuthSchema = z.strictObject({
  /** Requests without a key are refused unless this is set explicitly. */
  allowAnonymous: flag.default(false),
})

const RedisSchema = z.strictObject({
  /** Empty: the gateway runs on its embedded in-memory store (single node). */
  url: z.string().default(''),
  commandTimeoutMs: millis.default(50),
  connectTimeoutMs: millis.default(1_000),
})

export const BACKEND_KINDS = ['openai', 'vllm', 'llamacpp', 'ollama', 'tgi'] as const

const BackendSchema = z.strictObject({
  baseUrl: z.url({ protocol: /^https?$/ }),
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
  maxConnections: count(1).default(128),
})

const ImageTokensSchema = z.discriminatedUnion('policy', [
  z.strictObject({ policy: z.literal('fixed'), tokensPerImage: count(0).default(576) }),
  z.strictObject({
    policy: z.literal('llava-next'),
    gridPinpoints: z.array(z.tuple([count(1), count(1)])).min(1).optional(),
  }),
  z.strictObject({ policy: z.literal('openai-tiles') }),
])

const ModelSchema = z.strictObject({
  id: z.string().min(1),
  backend: z.string().min(1),
  /** The name the backend knows the model by, when it differs (Ollama: `llava:7b`). */
  upstreamModel: z.string().min(1).optional(),
  contentOrder: z.enum(['reorder', 'reject', 'allow']).default('reorder'),
  chatTemplate: z.enum(['llava-1.5', 'plain']).default('llava-1.5'),
  imageTokens: ImageTokensSchema.default({ policy: 'fixed', tokensPerImage: 576 }),
  ownedBy: z.string().min(1).default('llava-gateway'),
  /** Which of the model's names metrics use; the id unless set. Only configured models ever become labels. */
  metricsLabel: label.optional(),
})

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
  })
  .refine((k) => (k.secret === undefined) !== (k.sha256 === undefined), {
    message: 'give exactly one of `secret` or `sha256`',
  })

export const ConfigSchema = z
  .strictObject({
    server: ServerSchema.prefault({}),
    auth: AuthSchema.prefault({}),
    redis: RedisSchema.prefault({}),
    backends: z.record(label, BackendSchema),
    models: z.array(ModelSchema).min(1),
    keys: z.array(KeySchema).default([]),
  })
  .superRefine((config, ctx) => {
    const modelIds = new Set<string>()
    config.models.forEach((model, i) => {
      if (!(model.backend in config.backends)) {
        ctx.addIssue({ code: 'custom', path: ['models', i, 'backend'], message: `unknown backend "${model.backend}"` })
      }
      if (modelIds.has(model.id)) {
        ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `duplicate model id "${model.id}"` })
      }
      modelIds.add(model.id)
    })
    const aliases = new Set<string>()
    config.keys.forEach((key, i) => {
      if (aliases.has(key.alias)) {
        ctx.addIssue({ code: 'custom', path: ['keys', i, 'alias'], message: `duplicate key alias "${key.alias}"` })
      }
      aliases.add(key.alias)
      key.models?.forEach((id, j) => {
        if (!modelIds.has(id)) {
          ctx.addIssue({ code: 'custom', path: ['keys', i, 'models', j], message: `unknown model "${id}"` })
        }
      })
    })
  })

export type ConfigInput = z.input<typeof ConfigSchema>
export type ParsedConfig = z.output<typeof ConfigSchema>
export type BackendConfig = ParsedConfig['backends'][string]
export type ModelConfig = ParsedConfig['models'][number]
export type ImageTokensConfig = ModelConfig['imageTokens']
export type BackendKind = (typeof BACKEND_KINDS)[number]

/** A key as the running gateway holds it: the secret is gone, only its hash is kept. */
export type KeyConfig = Readonly<{
  alias: string
  team: string
  sha256: string
  models: readonly string[] | undefined
}>

/** The validated, frozen configuration the app is built from. */
export type Config = Readonly<Omit<ParsedConfig, 'keys'> & { keys: readonly KeyConfig[] }>
