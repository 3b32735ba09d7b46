import type { FetchLimits } from './fetch-limits.js'
import { parseIpLiteralHost } from './address-policy.js'
import { normalizeHost, type HostPolicy } from './host-policy.js'
import { ImageFetchError } from './image-fetch-error.js'

/**
 * The checks a URL must pass before any connection: http(s) only, no user info, an allowed port,
 * a host name that is not refused, and an IP-literal host (in any spelling the WHATWG parser
 * accepts, already normalized by it) that is an allowed address. Parsed once; the returned URL
 * object is the one fetched, so no second parser can read it differently.
 */
export function checkImageUrl(raw: string | URL, fetch: FetchLimits, policy: HostPolicy): URL {
  let url: URL
  try {
    url = typeof raw === 'string' ? new URL(raw) : raw
  } catch {
    throw new ImageFetchError('invalid', 'the image URL is not a valid URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ImageFetchError('forbidden', `the URL scheme "${url.protocol.slice(0, 20)}" is not allowed; use http(s) or a data: URL`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new ImageFetchError('forbidden', 'URLs with user info (user@host) are not allowed')
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  if (!fetch.allowedPorts.includes(port)) {
    throw new ImageFetchError('forbidden', `port ${port} is not allowed (images.fetch.allowedPorts: ${fetch.allowedPorts.join(', ')})`)
  }
  const host = normalizeHost(url.hostname)
  const refusal = policy.refuseName(host)
  if (refusal) throw new ImageFetchError('forbidden', refusal)
  const literal = parseIpLiteralHost(host)
  if (literal && !policy.trustsName(host) && !policy.addresses.isAllowed(literal)) {
    throw new ImageFetchError('forbidden', 'the host is a private, loopback, link-local or reserved address')
  }
  return url
}
