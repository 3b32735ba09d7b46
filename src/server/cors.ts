import type { MiddlewareHandler } from 'hono'
import type { CorsConfig } from '../config/cors-schema.js'
import { CACHE_HEADER } from '../cache/index.js'
import { appendHeader, reply, setHeader } from '../reply/reply.js'

/** The methods the gateway answers; a preflight is told these, whatever it asks for. */
const ALLOW_METHODS = 'GET, POST, OPTIONS'

/**
 * Response headers a page's script may read besides the CORS-safelisted ones: the request id (to
 * report a problem), the token rate-limit headers, why and when to retry, and cache hits.
 */
const EXPOSE_HEADERS = [
  'x-request-id',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'retry-after',
  'x-should-retry',
  CACHE_HEADER,
].join(', ')

/**
 * Lets web pages on the configured origins call the gateway from a browser. A preflight (OPTIONS
 * with `Origin` and `Access-Control-Request-Method`) is answered here, 204, before auth (browsers
 * send it without the key); from an allowed origin it carries the permissions, from any other it
 * carries none, so the browser stops there. Actual responses, errors included, carry
 * `Access-Control-Allow-Origin` only for an allowed origin. Requests without `Origin` (servers,
 * SDKs, curl) are untouched: CORS restrains browsers, it is not access control; the API key is.
 */
export const cors = (config: CorsConfig): MiddlewareHandler => {
  const anyOrigin = config.allowOrigins.includes('*')
  const allowed = new Set(config.allowOrigins)
  const allowOrigin = (origin: string) => (anyOrigin ? '*' : allowed.has(origin) ? origin : undefined)
  const allowHeaders = config.allowHeaders.includes('*') ? undefined : config.allowHeaders.join(', ')

  // Not async: it has nothing to do after next(), and an async step costs every request a promise
  // and two more turns of the microtask queue as the chain unwinds.
  return function corsHeaders(c, next) {
    const origin = c.req.header('origin')
    if (origin === undefined) return next()
    const granted = allowOrigin(origin)
    // The answer depends on Origin (unless every origin gets the same one): shared caches must key on it.
    if (!anyOrigin) appendHeader(c, 'vary', 'Origin')

    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined) {
      if (!granted) return Promise.resolve(reply(c, null, 204))
      setHeader(c, 'access-control-allow-origin', granted)
      setHeader(c, 'access-control-allow-methods', ALLOW_METHODS)
      // `*` in Allow-Headers does not cover Authorization (Fetch standard), so the configured `*`
      // echoes what the browser asked for instead.
      const asked = c.req.header('access-control-request-headers')
      const requestHeaders = allowHeaders ?? asked
      if (requestHeaders) setHeader(c, 'access-control-allow-headers', requestHeaders)
      if (allowHeaders === undefined) appendHeader(c, 'vary', 'Access-Control-Request-Headers')
      setHeader(c, 'access-control-max-age', String(config.maxAgeSeconds))
      return Promise.resolve(reply(c, null, 204))
    }

    // The request's headers: every response carries them, a backend's stream or an error's body alike.
    if (granted) {
      setHeader(c, 'access-control-allow-origin', granted)
      setHeader(c, 'access-control-expose-headers', EXPOSE_HEADERS)
    }
    return next()
  }
}
