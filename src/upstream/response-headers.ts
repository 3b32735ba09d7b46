import type { IncomingHttpHeaders } from 'undici/types/header.js'

/**
 * The only backend headers a client sees: when to retry. Everything else stays behind: cookies,
 * server banners, hop-by-hop headers, and the backend's own `x-ratelimit-*`, which describe the
 * gateway's upstream account, not the client's key (the gateway sends its own, from the budget).
 */
const FORWARDED = new Set(['retry-after', 'retry-after-ms'])

export function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value === undefined || !FORWARDED.has(lower)) continue
    out[lower] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}
