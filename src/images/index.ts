import type { Context, MiddlewareHandler, Next } from 'hono'
import type { FinishVariables } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { isBodyMemoryWatched, releaseBodyMemory } from '../lib/body-memory.js'
import { WeightedSemaphore, type Release } from '../lib/weighted-semaphore.js'
import type { NormalizeVariables } from '../normalize/index.js'
import type { ValidateVariables } from '../validate/index.js'
import type { RequestImage } from './image-identity.js'
import { findImageParts, partRef, resolveImages, type ImagePartRef } from './resolve-images.js'

export type ImagesVariables = {
  /** Every image part, checked (and hashed when asked: ImageIdentity.sha256), in request order. */
  requestImages: readonly RequestImage[]
}

type ImagesEnv = {
  Variables: FinishVariables & ValidateVariables & Partial<Pick<NormalizeVariables, 'clientPartOrder'>> & ImagesVariables
}

/**
 * Step 4: every image part fetched or decoded and checked → `requestImages` on the context
 * (the upstream step sends those bytes, in each backend's dialect). Image bytes count against a
 * gateway-wide budget until the request has finished (a stream: until its last byte).
 */
export const images = ({
  config,
  imageFetcher,
  metrics,
  largeWork,
}: Pick<AppDeps, 'config' | 'imageFetcher' | 'metrics'> & Partial<Pick<AppDeps, 'largeWork'>>): MiddlewareHandler<ImagesEnv> => {
  const limits = config.images
  const bytes = new WeightedSemaphore(limits.maxInFlightBytes)

  // Not async: most requests carry no image, and an async step costs each of them a promise.
  return function resolveRequestImages(c, next) {
    const parts = findImageParts(c.get('chatRequest').messages, c.get('clientPartOrder'))
    if (parts.length > limits.maxImagesPerRequest) {
      const extra = parts[limits.maxImagesPerRequest]
      throw gatewayError('too_many_images', {
        param: extra ? partRef(extra).param : 'messages',
        message: `The request has ${parts.length} images; the limit is ${limits.maxImagesPerRequest} per request (images.maxImagesPerRequest).`,
      })
    }
    // Images whose tokens alone cannot fit the context window are refused before any is fetched.
    const model = c.get('model')
    const perImage = model.imageTokens.policy === 'fixed' ? model.imageTokens.tokensPerImage : 0
    if (parts.length * perImage > model.contextWindow) {
      throw gatewayError('context_length_exceeded', {
        param: 'messages',
        message: `This model's maximum context length is ${model.contextWindow} tokens (model \`${model.id}\`, models[].contextWindow). However, the request has ${parts.length} images of ${perImage} tokens each: ${parts.length * perImage} tokens before any text. Please send fewer images.`,
      })
    }
    if (parts.length === 0) {
      c.set('requestImages', [])
      return next()
    }
    return resolveThenContinue(c, next, parts)
  }

  async function resolveThenContinue(c: Context<ImagesEnv>, next: Next, parts: ImagePartRef[]): Promise<void> {
    const held: Release[] = []
    const releaseAll = () => held.splice(0).forEach((release) => release())
    c.get('finish').whenDone(releaseAll)
    const resolved = await resolveImages(parts, {
      limits,
      fetcher: imageFetcher,
      bytes,
      signal: () => c.req.raw.signal,
      payloads: c.get('dataUrlPayloads'),
      held,
      ...(largeWork ? { largeWork } : {}),
      onFetch: (result, size) => {
        metrics.imageFetches.inc({ result })
        if (size !== undefined) metrics.imageFetchBytes.observe(size)
      },
    })
    c.set('requestImages', resolved)
    try {
      await next()
    } finally {
      // Once the request is over, downloaded images' memory goes back (lib/body-memory.ts). Only a
      // large one is watched: most requests add no listener.
      const downloaded = resolved.flatMap(({ identity }) =>
        identity.source === 'url' && isBodyMemoryWatched(identity.bytes) ? [identity.bytes] : [],
      )
      if (downloaded.length > 0) c.get('finish').whenDone(() => downloaded.forEach((bytes) => releaseBodyMemory(bytes)))
    }
  }
}

// What later steps use of this one: the checked images and how to send them.
export { partRef } from './resolve-images.js'
export { withForwardedImages } from './forward-images.js'
export type { RequestImage } from './image-identity.js'
