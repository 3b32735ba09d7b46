import type { IncomingHttpHeaders } from 'undici/types/header.js'

/**
 * The only backend headers a client sees: when to retry. Everything else stays behind: cookies,
 * server banners, hop-by-hop headers, and the backend's own `x-ratelimit-*`, which describe the
 * gateway's upstream account, not the client's key (the gateway sends its own, from the budget).
 * undici names every header in lower case, so each is one lookup, not a walk over all of them.
 */
const FORWARDED = ['retry-after', 'retry-after-ms'] as const

export function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of FORWARDED) {
    const value = headers[name]
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}
