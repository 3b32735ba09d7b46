import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { CATALOGUE, type ErrorCode } from './catalogue.js'

/** The body OpenAI's API and SDKs expect: all four keys always present. */
export type OpenAIErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null }
}

export type GatewayErrorOptions = {
  message?: string
  param?: string | null
  /** Response headers that belong with this error, e.g. Retry-After. */
  headers?: Readonly<Record<string, string>>
  cause?: unknown
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly status: ContentfulStatusCode
  readonly type: string
  readonly param: string | null
  readonly headers: Readonly<Record<string, string>>

  constructor(
    readonly code: ErrorCode,
    options: GatewayErrorOptions = {},
  ) {
    const [status, defaultMessage] = CATALOGUE[code]
    super(options.message ?? defaultMessage, options.cause === undefined ? undefined : { cause: options.cause })
    this.status = status
    this.type = errorTypeFor(status)
    this.param = options.param ?? null
    this.headers = options.headers ?? {}
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export function gatewayError(code: ErrorCode, options?: GatewayErrorOptions): GatewayError {
  return new GatewayError(code, options)
}

/** OpenAI's `type`: 4xx are the client's to fix, 5xx are ours or the backend's. */
export function errorTypeFor(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 429) return 'rate_limit_error'
  return status >= 500 ? 'server_error' : 'invalid_request_error'
}
