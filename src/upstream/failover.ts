import type { HashKey } from '../backends/balance/rendezvous.js'
import type { UpstreamClient, UpstreamResponse } from '../backends/client.js'
import type { BackendPools } from '../backends/pools.js'
import { discardAnswerBody } from '../backends/whole-answer.js'
import type { BackendConfig, Config, ModelConfig } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { partRef, withForwardedImages, type RequestImage } from '../images/index.js'
import type { ChatRequest, ClientBody } from '../validate/index.js'
import { encodeBody } from './encode-body.js'
import { sendToPool } from './pool-attempts.js'
import { upstreamBody } from './upstream-body.js'
import type { ClientSignal } from '../lib/client-signal.js'

export type Attempt = { backend: string; replica: string; res: UpstreamResponse }

export type FailoverRequest = {
  request: ChatRequest
  images: readonly RequestImage[]
  /** The client's body, when the images' payloads are views of it (see encodeBody). */
  clientBody?: ClientBody | undefined
  model: ModelConfig
  headers: Readonly<Record<string, string>>
  signal: ClientSignal
  /** The answer is read whole, up to this many bytes, rather than streamed (UpstreamRequest). */
  wholeAnswerMaxBytes?: number | undefined
  /** The first image's SHA-256 (or the first message's), for backends routed by affinity. */
  affinityKey?: HashKey | undefined
  /** Told of each backend given up on, for the failover metric. */
  onFailover(backend: string): void
}

/**
 * Sends the request to the model's backend (a pool of replicas: see sendToPool), then to each of
 * its fallbacks in order while the one before could not take it: every replica it could try was
 * unreachable (refused, reset, connect timeout) or answered 429/502/503/504, or none was healthy.
 * Each backend gets the body in its own dialect (image forwarding, stream usage). The last answer,
 * good or bad, is returned; if the last backend could not be reached, its failure is thrown.
 */
export async function sendWithFailover(
  client: UpstreamClient,
  pools: BackendPools,
  config: Config,
  req: FailoverRequest,
  now: () => number,
): Promise<Attempt> {
  const candidates = usableBackends(config, req)
  let lastFailure: GatewayError | undefined
  for (const [i, name] of candidates.entries()) {
    const backend = config.backends[name] as BackendConfig
    const pool = pools.get(name)
    if (!pool) throw gatewayError('internal', { message: `No backend is configured as "${name}".` })
    const isLast = i === candidates.length - 1
    // Inline images are streamed into the body, not serialised with it (see encodeBody).
    const body = encodeBody(
      (inline) =>
        upstreamBody(
          withForwardedImages(req.request, req.images, backend, (image) =>
            inline(image.base64 === undefined ? { mime: image.mime, bytes: image.bytes } : { mime: image.mime, base64: image.base64 }),
          ),
          req.model,
          name,
          backend,
        ),
      req.clientBody,
    )
    const outcome = await sendToPool(client, pool, {
      body,
      headers: req.headers,
      signal: req.signal,
      wholeAnswerMaxBytes: req.wholeAnswerMaxBytes,
      affinityKey: req.affinityKey,
      lastResort: isLast,
      now,
    })
    if (outcome.kind === 'answered') return { backend: name, replica: outcome.replica, res: outcome.res }
    if (outcome.kind === 'refused') {
      if (isLast) return { backend: name, replica: outcome.replica, res: outcome.res }
      discardAnswerBody(outcome.res.body) // drain, so the connection goes back to the pool
    }
    if (outcome.kind === 'failed') {
      if (isLast) throw outcome.error
      lastFailure = outcome.error
    }
    if (!isLast) req.onFailover(name)
  }
  // Only a last backend with no replica at all ends here; the config refuses an empty pool.
  throw lastFailure ?? gatewayError('internal', { message: 'No backend to try.' })
}

/** The model's backends that can take this request: Ollama accepts no GIF. */
function usableBackends(config: Config, req: FailoverRequest): string[] {
  const all = [req.model.backend, ...req.model.fallbacks]
  const gif = req.images.find((image) => image.identity.mime === 'image/gif')
  if (!gif) return all
  const usable = all.filter((name) => config.backends[name]?.kind !== 'ollama')
  if (usable.length > 0) return usable
  throw gatewayError('image_unsupported_format', {
    param: partRef(gif).param,
    message: `The image at ${partRef(gif).label} is a GIF, which backend "${req.model.backend}" (Ollama) does not accept; send JPEG, PNG or WebP.`,
  })
}
