// Which IP addresses the image fetcher may connect to (the SSRF guard's address half; protocol-notes §6.1).
//
// Checked on every DNS answer at connect time and on IP-literal URL hosts (for which the socket lookup is never
// called). Anything we cannot parse with certainty is forbidden: failing closed is the only safe default here.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, in dotted or hex spelling) are the IPv4 address itself as far
// as a socket is concerned, so they are converted to IPv4 first and judged — and matched against allowNetworks
// — as IPv4 everywhere: ::ffff:10.0.0.1 is forbidden, ::ffff:8.8.8.8 is allowed.
//
// Plain byte arithmetic rather than net.BlockList, because we need the embedded IPv4 out of a mapped address,
// and one parser for addresses and networks keeps the two from ever disagreeing.
import { isIPv4, isIPv6 } from 'node:net'

type Ip = { readonly version: 4 | 6; readonly bytes: Uint8Array } // 4 or 16 bytes, network order
type Network = Ip & { readonly prefix: number }

export type AddressPolicy = { isAllowed(address: string): boolean }
export type AddressPolicyOptions = { allowNetworks: readonly string[] }

// Declared before the tables below, whose construction already runs the parser.
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] // ::ffff:0:0/96

// Special-purpose IPv4 blocks (IANA registry; cloud metadata endpoints live in 169.254/16 and 100.64/10).
const FORBIDDEN_V4 = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT (Alibaba metadata 100.100.100.200)
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local (AWS/GCP/Azure/OCI metadata 169.254.169.254)
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.88.99.0/24', // 6to4 relay anycast
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, including broadcast 255.255.255.255
].map(parseNetworkOrThrow)

// Global unicast is 2000::/3; everything outside it (::, ::1, IPv4-compatible ::/96, NAT64 64:ff9b::/96 and
// 64:ff9b:1::/48, discard 100::/64, ULA fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast
// ff00::/8, …) is forbidden by that single rule. Inside it, these special blocks are forbidden too.
const GLOBAL_UNICAST_V6 = parseNetworkOrThrow('2000::/3')
const FORBIDDEN_V6 = [
  '2001::/23', // IETF protocol assignments, including Teredo 2001::/32 (tunnels to an embedded IPv4)
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4 (tunnels to an embedded IPv4)
].map(parseNetworkOrThrow)

/** True unless `address` is a valid IP in globally routable unicast space. Invalid input is forbidden. */
export function isForbiddenAddress(address: string): boolean {
  const ip = parseAddress(address)
  if (ip === null) return true
  if (ip.version === 4) return FORBIDDEN_V4.some((n) => contains(n, ip))
  return !contains(GLOBAL_UNICAST_V6, ip) || FORBIDDEN_V6.some((n) => contains(n, ip))
}

/**
 * An operator's `allowNetworks` (CIDRs or bare IPs) win over the block list, e.g. to reach an image server on
 * 10.0.0.0/8. Throws on an invalid entry so config validation fails at startup, naming the entry.
 */
export function createAddressPolicy({ allowNetworks }: AddressPolicyOptions): AddressPolicy {
  const allowed = allowNetworks.map((entry) => {
    const parsed = parseNetwork(entry)
    if (typeof parsed === 'string') throw new Error(`invalid network "${entry}" in allowNetworks: ${parsed}`)
    return parsed
  })
  return Object.freeze({
    isAllowed(address: string): boolean {
      const ip = parseAddress(address)
      if (ip === null) return false
      return allowed.some((n) => contains(n, ip)) || !isForbiddenAddress(address)
    },
  })
}

/**
 * Given a WHATWG `URL.hostname`, the bare IP if the host is an IP literal, else null (a name to resolve).
 * The URL parser has already turned every IPv4 spelling (2130706433, 0x7f.1, 0177.0.0.1, 127.1) into dotted
 * decimal and kept IPv6 in brackets, so only canonical forms need recognising here.
 */
export function parseIpLiteralHost(hostname: string): string | null {
  const bare = stripBrackets(hostname)
  return isIPv4(bare) || isIPv6(bare) ? bare : null
}

// --- parsing ---------------------------------------------------------------------------------------------

/** An address to check: parsed, with IPv4-mapped IPv6 turned into IPv4. */
function parseAddress(address: string): Ip | null {
  const ip = parseIp(stripBrackets(address))
  return ip === null ? null : unmapIpv4(ip)
}

function stripBrackets(text: string): string {
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
}

function parseIp(text: string): Ip | null {
  // A zone index (fe80::1%eth0) names an interface, not a host; node:net accepts it, we do not.
  if (text.includes('%')) return null
  if (isIPv4(text)) return { version: 4, bytes: Uint8Array.from(text.split('.'), Number) }
  if (isIPv6(text)) return parseIpv6(text)
  return null
}

/** `text` has passed net.isIPv6, so only the shape needs handling; any surprise still fails closed. */
function parseIpv6(text: string): Ip | null {
  let hex = text
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    // Trailing dotted IPv4 (::ffff:127.0.0.1, ::1.2.3.4) becomes the last two hextets.
    if (!isIPv4(tail)) return null
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number)
    hex = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const halves = hex.split('::')
  if (halves.length > 2) return null
  const groups = (half: string | undefined): string[] => (half ? half.split(':') : [])
  const head = groups(halves[0])
  const rest = groups(halves[1])
  const missing = 8 - head.length - rest.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const hextets = [...head, ...new Array<string>(missing).fill('0'), ...rest]
  const bytes = new Uint8Array(16)
  for (const [i, group] of hextets.entries()) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null
    const value = parseInt(group, 16)
    bytes[2 * i] = value >> 8
    bytes[2 * i + 1] = value & 0xff
  }
  return { version: 6, bytes }
}

function isIpv4Mapped(ip: Ip): boolean {
  return ip.version === 6 && MAPPED_PREFIX.every((b, i) => ip.bytes[i] === b)
}

function unmapIpv4(ip: Ip): Ip {
  return isIpv4Mapped(ip) ? { version: 4, bytes: ip.bytes.slice(12) } : ip
}

/** A CIDR (`10.0.0.0/8`, `::1/128`) or bare IP, or a string saying why it is not one. */
function parseNetwork(text: string): Network | string {
  const slash = text.indexOf('/')
  const ip = parseIp(stripBrackets(slash === -1 ? text : text.slice(0, slash)))
  if (ip === null) return 'not an IP address or CIDR'
  const maxPrefix = ip.bytes.length * 8
  const prefixText = slash === -1 ? String(maxPrefix) : text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) return `prefix must be 0..${maxPrefix}`
  const network: Network = { ...ip, prefix: Number(prefixText) }
  // Refuse 10.1.2.3/8 rather than guess: whoever wrote it may have meant one host, not a /8 opened to fetches.
  if (!hostBitsZero(network)) return `address has bits set beyond the /${network.prefix} prefix`
  // An IPv4-mapped network is an IPv4 network, because the addresses it is matched against are unmapped.
  if (network.prefix >= 96 && isIpv4Mapped(network)) return { version: 4, bytes: network.bytes.slice(12), prefix: network.prefix - 96 }
  return network
}

function parseNetworkOrThrow(text: string): Network {
  const parsed = parseNetwork(text)
  if (typeof parsed === 'string') throw new Error(`bad built-in network ${text}: ${parsed}`)
  return parsed
}

// --- matching --------------------------------------------------------------------------------------------

function contains(network: Network, ip: Ip): boolean {
  if (network.version !== ip.version) return false
  return network.bytes.every((byte, i) => ((byte ^ (ip.bytes[i] ?? 0)) & prefixMask(network.prefix, i)) === 0)
}

function hostBitsZero(network: Network): boolean {
  return network.bytes.every((byte, i) => (byte & ~prefixMask(network.prefix, i)) === 0)
}

/** Byte `i` of the netmask for `prefix`: 0xff, a partial byte such as 0xc0, or 0. */
function prefixMask(prefix: number, i: number): number {
  const bits = Math.min(Math.max(prefix - i * 8, 0), 8)
  return (0xff << (8 - bits)) & 0xff
}
