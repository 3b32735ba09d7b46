import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError } from '../errors/gateway-error.js'
import { WeightedSemaphore, type Release } from '../lib/weighted-semaphore.js'
import { findImageParts, partRef, resolveImages } from './resolve-images.js'

/**
 * Step 4: every image part fetched or decoded, checked and hashed → `images` on the context (the
 * upstream step sends those bytes, in each backend's dialect). Image bytes count against a
 * gateway-wide budget until the response has been handed back.
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
      c.set('images', resolved)
      await next()
    } finally {
      for (const release of held) release()
    }
  }
}
