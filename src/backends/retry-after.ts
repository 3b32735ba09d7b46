import type { IncomingHttpHeaders } from 'undici/types/header.js'

/**
 * How long an answer asks the caller to wait: OpenAI-style `retry-after-ms`, else `Retry-After` in
 * seconds or as an HTTP date (RFC 9110 §10.2.3). Undefined when it does not say, or says nonsense.
 */
export function retryAfterMs(headers: IncomingHttpHeaders, now: number): number | undefined {
  const ms = single(headers['retry-after-ms'])
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Number(ms)
  const after = single(headers['retry-after'])
  if (after === undefined) return undefined
  if (/^\d+$/.test(after)) return Number(after) * 1000
  // Only an HTTP date (it names a weekday and a month); Date.parse would read "-1" as year -1.
  if (!/[a-z]/i.test(after)) return undefined
  const date = Date.parse(after)
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined
}

function single(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value
  return text?.trim() || undefined
}
