/**
 * Why an image fetch failed, before it is tied to a message and part. Stable `reason`s, so the
 * middleware maps them to catalogue codes; `detail` is safe to show a client (never an address).
 */
export type ImageFailureReason = 'invalid' | 'forbidden' | 'failed' | 'timeout' | 'too_large' | 'busy'

export class ImageFetchError extends Error {
  override readonly name = 'ImageFetchError'
  constructor(
    readonly reason: ImageFailureReason,
    readonly detail: string,
  ) {
    super(detail)
  }
}
