import { gatewayError, type GatewayError } from '../errors/gateway-error.js'

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/**
 * A failed exchange with a backend → 504 for timeouts, 502 for everything else (refused, reset, DNS).
 * undici's own errors carry stable `code`s; fetch wraps them in `cause`, request() throws them bare.
 * The message names the backend, never its address or credential.
 */
export function classifyUpstreamFailure(err: unknown, backend: string): GatewayError {
  const code = errorCode(err) ?? errorCode((err as { cause?: unknown } | null)?.cause)
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return gatewayError('upstream_timeout', {
      message: `Backend "${backend}" did not answer in time (${timeoutStage(code)}).`,
      cause: err,
    })
  }
  return gatewayError('upstream_unreachable', {
    message: `Backend "${backend}" could not be reached${code ? ` (${code})` : ''}.`,
    cause: err,
  })
}

function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

function timeoutStage(code: string): string {
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connecting'
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'waiting for the response to start'
  if (code === 'UND_ERR_BODY_TIMEOUT') return 'waiting for more of the response'
  return 'timed out'
}
