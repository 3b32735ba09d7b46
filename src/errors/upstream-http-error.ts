import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { OpenAIErrorBody } from './gateway-error.js'

/**
 * An error the backend answered, passed through with its own status and a body translated to
 * OpenAI's shape. A status outside 4xx/5xx is not an error status a client can act on: 502.
 */
export class UpstreamHttpError extends Error {
  override readonly name = 'UpstreamHttpError'
  readonly status: ContentfulStatusCode

  constructor(
    status: number,
    readonly body: OpenAIErrorBody,
  ) {
    super(body.error.message)
    this.status = (status >= 400 && status <= 599 ? status : 502) as ContentfulStatusCode
  }
}
