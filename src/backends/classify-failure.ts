import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { errorCode, timeoutStage } from '../lib/network-errors.js'

/**
 * A failed exchange with a backend → 504 for timeouts, 502 for everything else (refused, reset, DNS).
 * The message names the backend, never its address or credential.
 */
export function classifyUpstreamFailure(err: unknown, backend: string): GatewayError {
  const stage = timeoutStage(err)
  if (stage !== undefined) {
    return gatewayError('upstream_timeout', { message: `Backend "${backend}" did not answer in time (${stage}).`, cause: err })
  }
  const code = errorCode(err)
  return gatewayError('upstream_unreachable', {
    message: `Backend "${backend}" could not be reached${code ? ` (${code})` : ''}.`,
    cause: err,
  })
}

/**
 * A backend that failed after its response had begun: a timeout between body chunks is still a
 * timeout (504); anything else (a reset, a closed socket) broke the response off, and says so,
 * rather than claiming the backend could not be reached.
 */
export function classifyMidResponseFailure(err: unknown, backend: string): GatewayError {
  if (timeoutStage(err) !== undefined) return classifyUpstreamFailure(err, backend)
  const code = errorCode(err)
  return gatewayError('upstream_stream_interrupted', {
    message: `Backend "${backend}" broke off its response${code ? ` (${code})` : ''}.`,
    cause: err,
  })
}
