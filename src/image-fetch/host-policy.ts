import type { FetchLimits } from './fetch-limits.js'
import { createAddressPolicy, type AddressPolicy } from './address-policy.js'

/**
 * Names that point inward by convention. Refused unless allowed by name: their addresses would be
 * refused anyway, but refusing the name gives a clear error without a DNS query.
 */
const INTERNAL_NAME = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/

export type HostPolicy = {
  /** Why a host name is refused before any lookup, or undefined if it may be resolved. */
  refuseName(hostname: string): string | undefined
  /** Trusted by name (config `allowHosts`): any address it resolves to is accepted. */
  trustsName(hostname: string): boolean
  addresses: AddressPolicy
}

export function createHostPolicy(fetch: FetchLimits): HostPolicy {
  const allow = fetch.allowHosts.map(hostMatcher)
  const deny = fetch.denyHosts.map(hostMatcher)
  const trustsName = (hostname: string) => allow.some((matches) => matches(normalizeHost(hostname)))
  return {
    trustsName,
    addresses: createAddressPolicy({ allowNetworks: fetch.allowNetworks }),
    refuseName(hostname) {
      const host = normalizeHost(hostname)
      if (deny.some((matches) => matches(host))) return 'the host is on the deny list'
      if (trustsName(host)) return undefined
      if (INTERNAL_NAME.test(host)) return 'the host name is an internal one'
      if (!host.includes('.') && !host.includes(':')) return 'single-label host names are not allowed'
      return undefined
    },
  }
}

/** Lower case, no trailing dot, no IPv6 brackets: `Images.Example.` and `images.example` are one host. */
export function normalizeHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^\[(.*)\]$/, '$1')
}

function hostMatcher(pattern: string): (host: string) => boolean {
  const p = normalizeHost(pattern)
  if (p.startsWith('*.')) {
    const suffix = p.slice(1)
    return (host) => host.endsWith(suffix)
  }
  return (host) => host === p
}
