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

/**
 * A GatewayError; a client error (4xx) without a stack trace. Its message already names the field
 * and the limit, so a stack says nothing an operator needs, and capturing one is most of the cost
 * of refusing a request (about 7 µs, paid on every 400, 401 and 429 of a flood of bad requests).
 * A 5xx keeps its stack: that one is ours to debug.
 */
export function gatewayError(code: ErrorCode, options?: GatewayErrorOptions): GatewayError {
  if (CATALOGUE[code][0] >= 500) return new GatewayError(code, options)
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new GatewayError(code, options)
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** OpenAI's `type`: 4xx are the client's to fix, 5xx are ours or the backend's. */
export function errorTypeFor(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 429) return 'rate_limit_error'
  return status >= 500 ? 'server_error' : 'invalid_request_error'
}
