import type { Principal } from '../auth/index.js'
import type { CacheConfig } from '../config/schema.js'
import type { RequestImage } from '../images/index.js'
import { sha256Hex } from '../lib/sha256.js'
import { stableJson } from '../lib/stable-json.js'
import type { ChatRequest } from '../validate/index.js'

/**
 * Parameters that cannot change what the model writes: the transport (`stream`, `stream_options`)
 * and bookkeeping fields. Everything else, unknown parameters included, is part of the key: a
 * parameter we do not know might change the output, and a needless miss is cheaper than a wrong hit.
 */
const NOT_IN_KEY = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'safety_identifier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'service_tier',
])

/**
 * SHA-256 of a canonical JSON of everything that decides the answer: the scope (team, key or
 * shared), the model, the normalized messages with each image replaced by its content identity
 * (sha256 and mime: never the URL or the base64 text), and the output-changing parameters.
 * The key itself, not a promise, for a request without images (nothing to wait for).
 */
export function cacheKey(
  request: ChatRequest,
  images: readonly RequestImage[],
  principal: Principal,
  config: CacheConfig,
): string | Promise<string> {
  if (images.length === 0) return keyOf(request, new Map(), principal, config)
  return Promise.all(images.map((image) => image.identity.sha256())).then((digests) => {
    const byLocation = new Map(
      images.map((image, i) => [`${image.messageIndex}:${image.partIndex}`, { sha256: digests[i], mime: image.identity.mime }]),
    )
    return keyOf(request, byLocation, principal, config)
  })
}

type ImageIdentity = { sha256: string | undefined; mime: string }

function keyOf(request: ChatRequest, byLocation: ReadonlyMap<string, ImageIdentity>, principal: Principal, config: CacheConfig): string {
  const messages = request.messages.map((message, messageIndex) => {
    if (!Array.isArray(message.content)) return message
    const content = message.content.map((part, partIndex) => {
      if (part.type !== 'image_url') return part
      const identity = byLocation.get(`${messageIndex}:${partIndex}`)
      return { type: 'image', sha256: identity?.sha256, mime: identity?.mime, detail: part.image_url.detail }
    })
    return { ...message, content }
  })
  const params = Object.fromEntries(Object.entries(request).filter(([name, value]) => !NOT_IN_KEY.has(name) && value !== null))
  const scope = config.scope === 'team' ? `team:${principal.team}` : config.scope === 'key' ? `key:${principal.keyAlias}` : 'shared'
  const digest = sha256Hex(stableJson({ v: 1, scope, model: request.model, messages, params }))
  // The digest is the hash tag: the entry and its lock (`<key>:lock`) share a slot on a Redis Cluster.
  return `${config.keyPrefix}cache:v1:{${digest}}`
}
