import type { ImagesConfig } from '../config/schema.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import type { ImageIdentity } from './image-identity.js'
import { sniffImage, type SniffResult } from './sniff.js'

/**
 * The same checks whatever the bytes came from: the format from magic bytes (never the declared
 * type), dimensions from the header alone, then the limits. Nothing is decoded, so a pixel bomb
 * costs a few header bytes to refuse.
 */
export function checkImageBytes(bytes: Buffer, limits: ImagesConfig, where: Where): Checked | GatewayError {
  return checkSniffed(sniffImage(bytes), limits, where)
}

type Where = { param: string; label: string }
type Checked = Pick<ImageIdentity, 'mime' | 'width' | 'height'>

/** The same checks on what sniffing the bytes found (a data URL is sniffed while its payload is checked). */
export function checkSniffed(sniffed: SniffResult, limits: ImagesConfig, where: Where): Checked | GatewayError {
  if (!sniffed.ok) {
    return gatewayError('image_unsupported_format', {
      param: where.param,
      message:
        sniffed.reason === 'malformed'
          ? `The image at ${where.label} has a damaged header.`
          : `The image at ${where.label} is not JPEG, PNG, WebP or GIF (judged from its bytes, not its declared type).`,
    })
  }
  const { width, height, mime } = sniffed
  const pixels = width * height
  const outOfRange =
    width < limits.minDimension || height < limits.minDimension
      ? `at least ${limits.minDimension}px on each side (images.minDimension)`
      : width > limits.maxDimension || height > limits.maxDimension
        ? `at most ${limits.maxDimension}px on each side (images.maxDimension)`
        : pixels > limits.maxPixels
          ? `at most ${limits.maxPixels} pixels (images.maxPixels)`
          : undefined
  if (outOfRange) {
    return gatewayError('image_dimensions_out_of_range', {
      param: where.param,
      message: `The image at ${where.label} is ${width}x${height}; images must be ${outOfRange}.`,
    })
  }
  return { mime, width, height }
}
