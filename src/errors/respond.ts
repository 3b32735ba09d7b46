import type { Context, ErrorHandler, NotFoundHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Logger } from 'pino'
import { GatewayError, gatewayError, type OpenAIErrorBody } from './gateway-error.js'
import { UpstreamHttpError } from './upstream-http-error.js'
import { replyJson, setHeader } from '../reply/reply.js'

/** The one place that turns a thrown error into an HTTP response. Never echoes an unknown error's message. */
export function onError(log: Logger): ErrorHandler {
  return function renderError(err, c) {
    if (err instanceof UpstreamHttpError && !c.req.raw.signal.aborted) return replyJson(c, err.body, err.status)
    const gateway = clientError(err, c)
    if (gateway.code === 'internal') log.error({ err, requestId: requestIdOf(c) }, 'unhandled error')
    return errorResponse(c, gateway)
  }
}

/**
 * The catalogue error a client gets for whatever a step threw. A client that left is the reason
 * whatever failed failed (a body cut mid-upload, a backend call aborted): that is the client's,
 * 499 client_closed_request, never the gateway's 5xx.
 */
export function clientError(err: unknown, c: Context): GatewayError {
  if (c.req.raw.signal.aborted) return gatewayError('client_closed_request', { cause: err })
  return toGatewayError(err)
}

export const notFound: NotFoundHandler = (c) =>
  errorResponse(c, gatewayError('not_found', { message: `No route for ${c.req.method} ${c.req.path}.` }))

export function errorResponse(c: Context, error: GatewayError): Response {
  for (const [name, value] of Object.entries(error.headers)) setHeader(c, name, value)
  return replyJson(c, error.toBody(), error.status)
}

export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  if (err instanceof HTTPException) {
    // hono's own middleware (bodyLimit and friends) throw these; keep their status.
    const status = err.status
    if (status === 413) return gatewayError('request_too_large', { cause: err })
    return gatewayError(status >= 500 ? 'internal' : 'invalid_request', {
      message: err.message || `Request rejected (HTTP ${status}).`,
      cause: err,
    })
  }
  return gatewayError('internal', { cause: err })
}

/** Once an SSE stream has started the status is already 200: errors travel as a data frame the SDK raises. */
export function sseErrorFrame(body: OpenAIErrorBody): string {
  return `data: ${JSON.stringify(body)}\n\n`
}

function requestIdOf(c: Context): string | undefined {
  const id: unknown = c.get('requestId')
  return typeof id === 'string' ? id : undefined
}
