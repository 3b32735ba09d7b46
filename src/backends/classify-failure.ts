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
