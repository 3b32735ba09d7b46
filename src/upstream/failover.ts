import type { BackendConfig, Config, ModelConfig } from '../config/schema.js'
import { gatewayError, GatewayError } from '../errors/gateway-error.js'
import { errorCode } from '../lib/network-errors.js'
import { partRef, withForwardedImages, type RequestImage } from '../images/index.js'
import type { ChatRequest } from '../validate/index.js'
import type { UpstreamClient, UpstreamResponse } from '../backends/client.js'
import { encodeBody } from './encode-body.js'
import { upstreamBody } from './upstream-body.js'

/**
 * Answers that mean "this backend cannot take the request now", before it did any work for it:
 * overloaded, rate limited, or a proxy in front of it that could not reach it. The next backend
 * may. Anything else (a 4xx about the request, a backend that accepted and then timed out) is the
 * answer: trying elsewhere would repeat work or repeat the same refusal.
 */
const TRY_NEXT_STATUS = new Set([429, 502, 503, 504])

export type Attempt = { backend: string; res: UpstreamResponse }

export type FailoverRequest = {
  request: ChatRequest
  images: readonly RequestImage[]
  model: ModelConfig
  headers: Readonly<Record<string, string>>
  signal: AbortSignal
  /** Told of each backend given up on, for the failover metric. */
  onFailover(backend: string): void
  /** Told how each attempt went, for backend health: undefined when it answered (below 500), else why not. */
  onAttempt?(backend: string, failure: string | undefined): void
}

/**
 * Sends the request to the model's backend, then to each of its fallbacks in order while the
 * previous one is unreachable (refused, reset, connect timeout) or answers 429/502/503/504. Each
 * backend gets the body in its own dialect (image forwarding, stream usage). The last answer,
 * good or bad, is returned; if every backend failed to connect, the last failure is thrown.
 */
export async function sendWithFailover(client: UpstreamClient, config: Config, req: FailoverRequest): Promise<Attempt> {
  const candidates = usableBackends(config, req)
  let lastFailure: GatewayError | undefined
  for (const [i, name] of candidates.entries()) {
    const backend = config.backends[name] as BackendConfig
    const isLast = i === candidates.length - 1
    // Inline images are streamed into the body, not serialised with it (see encodeBody).
    const body = encodeBody((inline) =>
      upstreamBody(
        withForwardedImages(req.request, req.images, backend, (image) =>
          inline({ mime: image.mime, bytes: image.bytes, base64: image.base64 }),
        ),
        req.model,
        name,
        backend,
      ),
    )
    let res: UpstreamResponse
    try {
      res = await client.send(name, {
        path: '/chat/completions',
        method: 'POST',
        headers: req.headers,
        body,
        signal: req.signal,
      })
    } catch (err) {
      if (!req.signal.aborted) req.onAttempt?.(name, err instanceof GatewayError ? (errorCode(err.cause) ?? err.code) : 'error')
      if (isLast || !(err instanceof GatewayError) || !retriable(err)) throw err
      lastFailure = err
      req.onFailover(name)
      continue
    }
    req.onAttempt?.(name, res.status >= 500 ? `HTTP ${res.status}` : undefined)
    if (isLast || !TRY_NEXT_STATUS.has(res.status)) return { backend: name, res }
    res.body.resume() // drain, so the connection goes back to the pool
    req.onFailover(name)
  }
  throw lastFailure ?? gatewayError('internal', { message: 'No backend to try.' }) // usableBackends never returns an empty list
}

/** Unreachable, or a connect timeout; a headers timeout means the backend is already working on it. */
function retriable(err: GatewayError): boolean {
  if (err.code === 'upstream_unreachable') return true
  const cause = err.cause as { code?: unknown } | undefined
  return err.code === 'upstream_timeout' && cause?.code === 'UND_ERR_CONNECT_TIMEOUT'
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
