import type { IncomingHttpHeaders } from 'undici/types/header.js'

/**
 * Backend headers worth passing to the client: retry hints and rate-limit state. Everything else
 * (cookies, server banners, hop-by-hop headers) stays behind.
 */
export function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const lower = name.toLowerCase()
    if (lower === 'retry-after' || lower === 'retry-after-ms' || lower.startsWith('x-ratelimit-')) {
      out[lower] = Array.isArray(value) ? value.join(', ') : value
    }
  }
  return out
}
