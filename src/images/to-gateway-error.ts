import type { ImagesConfig } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import type { ImageFetchError } from '../image-fetch/image-fetch-error.js'

export type PartRef = { param: string; label: string }

/** A fetch failure → its catalogue error, naming the message and part and, where there is one, the limit. */
export function imageFetchFailure(err: ImageFetchError, where: PartRef, limits: ImagesConfig): GatewayError {
  const { param, label } = where
  switch (err.reason) {
    case 'invalid':
      return gatewayError('invalid_image_url', { param, message: `The image URL at ${label} is not a valid URL.` })
    case 'forbidden':
      return gatewayError('image_url_forbidden', { param, message: `The image URL at ${label} is not allowed: ${err.detail}.` })
    case 'timeout':
      return gatewayError('image_fetch_timeout', {
        param,
        message: `Timed out downloading the image at ${label}: ${err.detail} (images.fetch.totalTimeoutMs is ${limits.fetch.totalTimeoutMs} ms).`,
      })
    case 'too_large':
      return gatewayError('image_too_large', { param, message: `The image at ${label} is too large: ${err.detail}.` })
    case 'busy':
      return gatewayError('images_busy', {
        param,
        message: `The gateway is at its limit for images in flight (${err.detail}); retry shortly.`,
        headers: { 'retry-after': '1' },
      })
    case 'failed':
      return gatewayError('image_fetch_failed', { param, message: `Could not download the image at ${label}: ${err.detail}.` })
  }
}
