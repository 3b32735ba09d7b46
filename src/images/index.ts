import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError } from '../errors/gateway-error.js'
import { WeightedSemaphore, type Release } from '../lib/weighted-semaphore.js'
import { withForwardedImages } from './forward-images.js'
import { findImageParts, partRef, resolveImages } from './resolve-images.js'

/**
 * Step 4: every image part fetched or decoded, checked and hashed → `c.get('images')`, and the
 * request rewritten to carry those bytes. Image bytes count against a gateway-wide budget until
 * the response has been handed back.
 */
export const images = ({ config, images: fetcher, metrics }: Pick<Deps, 'config' | 'images' | 'metrics'>): MiddlewareHandler<AppEnv> => {
  const limits = config.images
  const bytes = new WeightedSemaphore(limits.maxInFlightBytes)

  return async function resolveRequestImages(c, next) {
    const request = c.get('chatRequest')
    const parts = findImageParts(request.messages)
    if (parts.length > limits.maxImagesPerRequest) {
      const extra = parts[limits.maxImagesPerRequest]
      throw gatewayError('too_many_images', {
        param: extra ? partRef(extra).param : 'messages',
        message: `The request has ${parts.length} images; the limit is ${limits.maxImagesPerRequest} per request (images.maxImagesPerRequest).`,
      })
    }
    if (parts.length === 0) {
      c.set('images', [])
      return next()
    }
    const backend = config.backends[c.get('model').backend]
    if (!backend) throw new Error(`model ${c.get('model').id} names missing backend`) // config validation prevents this
    const held: Release[] = []
    try {
      const resolved = await resolveImages(parts, {
        limits,
        fetcher,
        bytes,
        signal: c.req.raw.signal,
        held,
        onFetch: (result, size) => {
          metrics.imageFetches.inc({ result })
          if (size !== undefined) metrics.imageFetchBytes.observe(size)
        },
      })
      const gif = resolved.find((image) => image.identity.mime === 'image/gif')
      if (gif && backend.kind === 'ollama') {
        throw gatewayError('image_unsupported_format', {
          param: partRef(gif).param,
          message: `The image at ${partRef(gif).label} is a GIF, which backend "${c.get('model').backend}" (Ollama) does not accept; send JPEG, PNG or WebP.`,
        })
      }
      c.set('images', resolved)
      c.set('chatRequest', withForwardedImages(request, resolved, backend))
      await next()
    } finally {
      for (const release of held) release()
    }
  }
}
