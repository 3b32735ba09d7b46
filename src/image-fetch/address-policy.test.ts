import { BlockList } from 'node:net'
import { describe, it, expect } from 'vitest'
import { createAddressPolicy, isForbiddenAddress, parseIpLiteralHost } from './address-policy.js'

// [address, forbidden?] — each block of protocol-notes §6.1 with addresses just inside and just outside.
const TABLE: readonly (readonly [string, boolean])[] = [
  // IPv4 public
  ['8.8.8.8', false],
  ['1.1.1.1', false],
  ['93.184.216.34', false],
  ['223.255.255.255', false],
  // 0.0.0.0/8
  ['0.0.0.0', true],
  ['0.255.255.255', true],
  ['1.0.0.0', false],
  // 10/8
  ['9.255.255.255', false],
  ['10.0.0.0', true],
  ['10.255.255.255', true],
  ['11.0.0.0', false],
  // 100.64/10
  ['100.63.255.255', false],
  ['100.64.0.0', true],
  ['100.100.100.200', true],
  ['100.127.255.255', true],
  ['100.128.0.0', false],
  // 127/8
  ['126.255.255.255', false],
  ['127.0.0.1', true],
  ['127.255.255.254', true],
  ['128.0.0.0', false],
  // 169.254/16
  ['169.253.255.255', false],
  ['169.254.169.254', true],
  ['169.254.170.2', true],
  ['169.255.0.0', false],
  // 172.16/12
  ['172.15.255.255', false],
  ['172.16.0.0', true],
  ['172.31.255.255', true],
  ['172.32.0.0', false],
  // 192.0.0/24, 192.0.2/24
  ['192.0.0.1', true],
  ['192.0.1.1', false],
  ['192.0.2.1', true],
  ['192.0.3.0', false],
  // 192.88.99/24
  ['192.88.98.255', false],
  ['192.88.99.1', true],
  ['192.88.100.0', false],
  // 192.168/16
  ['192.167.255.255', false],
  ['192.168.1.1', true],
  ['192.169.0.0', false],
  // 198.18/15
  ['198.17.255.255', false],
  ['198.18.0.0', true],
  ['198.19.255.255', true],
  ['198.20.0.0', false],
  // 198.51.100/24, 203.0.113/24
  ['198.51.100.7', true],
  ['198.51.101.0', false],
  ['203.0.113.9', true],
  ['203.0.112.255', false],
  // 224/4 multicast, 240/4 reserved + broadcast
  ['223.255.255.254', false],
  ['224.0.0.1', true],
  ['239.255.255.255', true],
  ['240.0.0.1', true],
  ['255.255.255.255', true],
  // IPv6 public
  ['2606:4700:4700::1111', false],
  ['2001:4860:4860::8888', false],
  ['2a00:1450:4001:82a::200e', false],
  ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false], // last address of 2000::/3
  ['2001:200::1', false], // just past 2001::/23
  ['2606:4700:4700:1:2:3::1111', false], // "::" standing for a single zero group
  ['2606:4700:4700:1:2:3:0:1111', false],
  ['2001:1ff:ffff::1', true], // last /32 inside 2001::/23 (2001:0000–2001:01ff)
  // unspecified, loopback, IPv4-compatible ::/96
  ['::', true],
  ['::1', true],
  ['0:0:0:0:0:0:0:1', true],
  ['::8.8.8.8', true],
  ['::0808:0808', true],
  // IPv4-mapped: judged by the embedded IPv4
  ['::ffff:127.0.0.1', true],
  ['::ffff:7f00:1', true],
  ['0:0:0:0:0:ffff:7f00:0001', true],
  ['::ffff:10.0.0.1', true],
  ['::ffff:a9fe:a9fe', true], // 169.254.169.254
  ['::ffff:8.8.8.8', false],
  ['::ffff:808:808', false],
  ['::FFFF:8.8.8.8', false],
  // IPv4-translated ::ffff:0:0:0/96 is not "mapped": forbidden like the rest of ::/8
  ['::ffff:0:808:808', true],
  // NAT64, discard, Teredo, documentation, 6to4
  ['64:ff9b::808:808', true],
  ['64:ff9b:1::1', true],
  ['100::1', true],
  ['2001::1', true],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true],
  ['2001:db8::1', true],
  ['2001:db8:ffff:ffff::', true],
  ['2001:db9::1', false],
  ['2002::1', true],
  ['2002:7f00:1::', true],
  ['2003::1', false],
  // ULA (AWS IMDS fd00:ec2::254), link-local, site-local, multicast
  ['fc00::1', true],
  ['fd00:ec2::254', true],
  ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
  ['fe80::1', true],
  ['febf:ffff::1', true],
  ['fec0::1', true],
  ['ff02::1', true],
  ['ff0e::1', true],
  // outside 2000::/3 generally
  ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
  ['4000::1', true],
  ['e000::1', true],
  // brackets are stripped
  ['[::1]', true],
  ['[2606:4700:4700::1111]', false],
  ['[::ffff:7f00:1]', true],
  ['[127.0.0.1]', true],
]

// Not an IP address, or not one we parse with certainty: forbidden (fail closed).
const INVALID = [
  '',
  'localhost',
  'example.com',
  '8.8.8',
  '8.8.8.8.8',
  '256.1.1.1',
  '08.8.8.8',
  '0177.0.0.1',
  '0x7f.0.0.1',
  '2130706433',
  '127.1',
  ' 8.8.8.8',
  '8.8.8.8 ',
  ':::',
  '1:2:3:4:5:6:7:8:9',
  '2606:4700::4700::1111',
  '12345::',
  'fe80::1%eth0',
  '2606:4700:4700::1111%1',
  '[::1',
  '::1]',
  '[[::1]]',
  '[8.8.8.8 ', // a bracket on one side only: nothing is stripped
  ' 8.8.8.8]',
  '[2606:4700:4700::1111 ',
  '8.8.8.8/32',
]

describe('isForbiddenAddress', () => {
  it(`has a table of ${TABLE.length} addresses`, () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(40)
  })

  it.each(TABLE)('%s → forbidden: %s', (address, forbidden) => {
    expect(isForbiddenAddress(address)).toBe(forbidden)
  })

  it.each(INVALID)('fails closed on %j', (address) => {
    expect(isForbiddenAddress(address)).toBe(true)
  })

  it('agrees with node:net BlockList on 21,000 pseudo-random addresses', () => {
    // An independent implementation of the same rules, so a bit-math slip in ours shows up as a mismatch.
    const blocked = new BlockList()
    for (const cidr of [
      '0.0.0.0/8',
      '10.0.0.0/8',
      '100.64.0.0/10',
      '127.0.0.0/8',
      '169.254.0.0/16',
      '172.16.0.0/12',
      '192.0.0.0/24',
      '192.0.2.0/24',
      '192.88.99.0/24',
      '192.168.0.0/16',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '224.0.0.0/4',
      '240.0.0.0/4',
    ]) {
      const [network = '', prefix = ''] = cidr.split('/')
      blocked.addSubnet(network, Number(prefix), 'ipv4')
    }
    for (const cidr of ['2001::/23', '2001:db8::/32', '2002::/16']) {
      const [network = '', prefix = ''] = cidr.split('/')
      blocked.addSubnet(network, Number(prefix), 'ipv6')
    }
    const globalUnicast = new BlockList()
    globalUnicast.addSubnet('2000::', 3, 'ipv6')
    const oracle = (address: string, family: 'ipv4' | 'ipv6'): boolean =>
      blocked.check(address, family) || (family === 'ipv6' && !address.startsWith('::ffff:') && !globalUnicast.check(address, 'ipv6'))

    let seed = 0x2545f491
    const next = (): number => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return seed >>> 0
    }
    // First octets/hextets near block edges, so boundaries get hit far more often than uniform sampling would.
    const octets = [0, 1, 9, 10, 11, 100, 126, 127, 128, 169, 172, 192, 198, 203, 223, 224, 239, 240, 255]
    const hextets = [0x1fff, 0x2000, 0x2001, 0x2002, 0x2003, 0x2606, 0x3fff, 0x4000, 0xfc00, 0xfdff, 0xfe80, 0xfebf, 0xfec0, 0xff00]
    const pick = <T>(list: readonly T[]): T => list[next() % list.length] as T
    for (let i = 0; i < 10_000; i++) {
      const v4 = [pick(octets), next() & 0xff, next() & 0xff, next() & 0xff].join('.')
      expect(isForbiddenAddress(v4), v4).toBe(oracle(v4, 'ipv4'))
      const v6 = [pick(hextets), ...Array.from({ length: 7 }, () => (next() & (i % 2 ? 0xffff : 0x01ff)).toString(16))].join(':')
      expect(isForbiddenAddress(v6), v6).toBe(oracle(v6, 'ipv6'))
    }
    for (let i = 0; i < 1000; i++) {
      const mapped = `::ffff:${[pick(octets), next() & 0xff, next() & 0xff, next() & 0xff].join('.')}`
      expect(isForbiddenAddress(mapped), mapped).toBe(oracle(mapped, 'ipv6'))
    }
  })
})

describe('createAddressPolicy', () => {
  it('with no allowNetworks, allows exactly what is not forbidden', () => {
    const policy = createAddressPolicy({ allowNetworks: [] })
    for (const [address, forbidden] of TABLE) expect(policy.isAllowed(address), address).toBe(!forbidden)
    for (const address of INVALID) expect(policy.isAllowed(address), address).toBe(false)
  })

  it('lets allowNetworks override the block list, and only inside those networks', () => {
    const policy = createAddressPolicy({ allowNetworks: ['10.0.0.0/8', '127.0.0.1/32', '::1/128', '192.168.1.5', 'fd00:ec2::/32'] })
    expect(policy.isAllowed('10.1.2.3')).toBe(true)
    expect(policy.isAllowed('127.0.0.1')).toBe(true)
    expect(policy.isAllowed('127.0.0.2')).toBe(false)
    expect(policy.isAllowed('::1')).toBe(true)
    expect(policy.isAllowed('[::1]')).toBe(true)
    expect(policy.isAllowed('192.168.1.5')).toBe(true)
    expect(policy.isAllowed('192.168.1.6')).toBe(false)
    expect(policy.isAllowed('fd00:ec2::254')).toBe(true)
    expect(policy.isAllowed('fd00:ec3::254')).toBe(false)
    expect(policy.isAllowed('169.254.169.254')).toBe(false)
    expect(policy.isAllowed('8.8.8.8')).toBe(true) // public addresses stay allowed
  })

  it('matches IPv4-mapped addresses against IPv4 networks, and IPv4-mapped networks as IPv4', () => {
    const v4 = createAddressPolicy({ allowNetworks: ['127.0.0.0/8'] })
    expect(v4.isAllowed('::ffff:127.0.0.1')).toBe(true)
    expect(v4.isAllowed('::ffff:7f00:1')).toBe(true)
    const mapped = createAddressPolicy({ allowNetworks: ['::ffff:10.0.0.0/104'] })
    expect(mapped.isAllowed('10.9.9.9')).toBe(true)
    expect(mapped.isAllowed('11.0.0.1')).toBe(true) // public anyway
    expect(mapped.isAllowed('172.16.0.1')).toBe(false)
    // The whole mapped block, /96, is all of IPv4.
    const allMapped = createAddressPolicy({ allowNetworks: ['::ffff:0:0/96'] })
    expect(allMapped.isAllowed('10.9.9.9')).toBe(true)
    expect(allMapped.isAllowed('::ffff:127.0.0.1')).toBe(true)
    expect(allMapped.isAllowed('::1')).toBe(false)
  })

  it('handles prefixes that are not a whole number of bytes, and /0', () => {
    const policy = createAddressPolicy({ allowNetworks: ['172.16.0.0/13', 'fe80::/10'] })
    expect(policy.isAllowed('172.23.255.255')).toBe(true)
    expect(policy.isAllowed('172.24.0.0')).toBe(false)
    expect(policy.isAllowed('febf::1')).toBe(true)
    expect(policy.isAllowed('fec0::1')).toBe(false)
    const everything = createAddressPolicy({ allowNetworks: ['0.0.0.0/0', '::/0'] })
    expect(everything.isAllowed('10.0.0.1')).toBe(true)
    expect(everything.isAllowed('ff02::1')).toBe(true)
    expect(everything.isAllowed('not an ip')).toBe(false)
  })

  it('matches a network only against addresses of its own IP version', () => {
    const v4 = createAddressPolicy({ allowNetworks: ['0.0.0.0/0'] })
    expect(v4.isAllowed('10.0.0.1')).toBe(true)
    expect(v4.isAllowed('::ffff:10.0.0.1')).toBe(true) // IPv4-mapped is IPv4
    expect(v4.isAllowed('::1')).toBe(false)
    expect(v4.isAllowed('fd00::1')).toBe(false)
    expect(v4.isAllowed('::')).toBe(false)
    const v6 = createAddressPolicy({ allowNetworks: ['::/0'] })
    expect(v6.isAllowed('::1')).toBe(true)
    expect(v6.isAllowed('127.0.0.1')).toBe(false)
    expect(v6.isAllowed('::ffff:127.0.0.1')).toBe(false)
    expect(v6.isAllowed('0.0.0.0')).toBe(false)
  })

  it.each([
    ['10.0.0.0/33', 'prefix must be 0..32'],
    ['::/129', 'prefix must be 0..128'],
    ['10.0.0.0/', 'prefix must be 0..32'],
    ['10.0.0.0/-1', 'prefix must be 0..32'],
    ['10.0.0.0/8/8', 'prefix must be 0..32'],
    ['10.0.0.0/ 8', 'prefix must be 0..32'],
    ['10.1.2.3/8', 'bits set beyond the /8 prefix'],
    ['fd00::1/8', 'bits set beyond the /8 prefix'],
    ['10.0.0/8', 'not an IP address or CIDR'],
    ['localhost', 'not an IP address or CIDR'],
    ['', 'not an IP address or CIDR'],
    ['fe80::1%eth0/64', 'not an IP address or CIDR'],
    ['fe80::/10%eth0', 'prefix must be 0..128'],
  ])('throws on %j, naming it', (entry, why) => {
    expect(() => createAddressPolicy({ allowNetworks: ['127.0.0.1/32', entry] })).toThrow(`invalid network "${entry}" in allowNetworks`)
    expect(() => createAddressPolicy({ allowNetworks: [entry] })).toThrow(why)
  })

  it('accepts a frozen allowNetworks list, as a frozen config provides', () => {
    const policy = createAddressPolicy({ allowNetworks: Object.freeze(['10.0.0.0/8']) })
    expect(Object.isFrozen(policy)).toBe(true)
    expect(policy.isAllowed('10.0.0.1')).toBe(true)
  })
})

describe('parseIpLiteralHost', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['[2606:4700:4700::1111]', '2606:4700:4700::1111'],
    ['example.com', null],
    ['localhost', null],
    ['metadata.google.internal', null],
    ['127.0.0.1.nip.io', null],
    ['', null],
    ['[8.8.8.8 ', null],
    [' 8.8.8.8]', null],
  ])('%j → %j', (hostname, expected) => {
    expect(parseIpLiteralHost(hostname)).toBe(expected)
  })

  // The WHATWG parser normalises every IPv4 spelling before we see it (protocol-notes §6.2).
  it.each([
    'http://127.0.0.1/',
    'http://0x7f.1/',
    'http://0x7f000001/',
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://127.1/',
    'http://127.0.0.1./',
    'http://①②⑦.0.0.1/',
    'http://127.0.0.1\\@evil.example/',
    'http://[::ffff:127.0.0.1]/',
    'http://[0:0:0:0:0:ffff:7f00:1]/',
    'http://[::1]:8080/',
    'http://[::]/',
    'http://0/',
    'http://169.254.169.254/latest/meta-data/',
    'http://0xa9.0xfe.0xa9.0xfe/',
    'http://[fd00:ec2::254]/',
    'https://[fe80::1]/',
  ])('%s is an IP literal and forbidden', (url) => {
    const ip = parseIpLiteralHost(new URL(url).hostname)
    expect(ip).not.toBeNull()
    expect(isForbiddenAddress(ip ?? '')).toBe(true)
  })

  it.each([
    ['http://8.8.8.8/', '8.8.8.8'],
    ['http://134744072/', '8.8.8.8'],
    ['http://[2606:4700:4700::1111]/', '2606:4700:4700::1111'],
  ])('%s is an allowed IP literal', (url, expected) => {
    const ip = parseIpLiteralHost(new URL(url).hostname)
    expect(ip).toBe(expected)
    expect(isForbiddenAddress(ip ?? '')).toBe(false)
  })

  it('returns null for names, which are checked after DNS resolution instead', () => {
    expect(parseIpLiteralHost(new URL('http://images.example.com/a.png').hostname)).toBeNull()
    expect(parseIpLiteralHost(new URL('http://LOCALHOST./').hostname)).toBeNull()
  })
})
