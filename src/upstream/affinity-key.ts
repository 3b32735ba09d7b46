import { hashKeyOf, type HashKey } from '../backends/balance/rendezvous.js'
import type { Config, ModelConfig } from '../config/schema.js'
import type { RequestImage } from '../images/index.js'
import { sha256Hex } from '../lib/sha256.js'
import { stableJson } from '../lib/stable-json.js'
import type { ChatRequest } from '../validate/index.js'

/** Whether any of the model's backends, its fallbacks included, routes by affinity. */
export function routesByAffinity(config: Pick<Config, 'backends'>, model: ModelConfig): boolean {
  if (config.backends[model.backend]?.routing === 'affinity') return true
  return model.fallbacks.some((name) => config.backends[name]?.routing === 'affinity')
}

/**
 * What `affinity` routing hashes: the first image's SHA-256, over the bytes the images step checked
 * (so the same picture reaches the same server whatever URL or encoding it came by); for a request
 * without images, the SHA-256 of its first message. Asked for only when routesByAffinity: other
 * requests pay nothing for it, not even a promise.
 */
export async function affinityKeyFor(request: ChatRequest, images: readonly RequestImage[]): Promise<HashKey> {
  const first = images[0]
  return hashKeyOf(first ? await first.identity.sha256() : sha256Hex(stableJson(request.messages[0] ?? null)))
}
