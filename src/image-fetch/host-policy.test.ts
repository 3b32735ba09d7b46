import { describe, expect, it } from 'vitest'
import type { FetchLimits } from './fetch-limits.js'
import { createHostPolicy, normalizeHost } from './host-policy.js'

// The name half of the SSRF guard. A trusted name skips the address check entirely, so what
// `allowHosts` matches must be exactly what the operator wrote, never a look-alike.

function limits(overrides: Partial<FetchLimits> = {}): FetchLimits {
  return {
    allowedPorts: [80, 443],
    maxRedirects: 3,
    connectTimeoutMs: 3_000,
    headersTimeoutMs: 5_000,
    totalTimeoutMs: 10_000,
    allowHosts: [],
    allowNetworks: [],
    denyHosts: [],
    concurrencyPerRequest: 4,
    maxConcurrent: 64,
    ...overrides,
  }
}

describe('normalizeHost', () => {
  it.each([
    ['images.example', 'images.example'],
    ['Images.EXAMPLE', 'images.example'],
    ['images.example.', 'images.example'],
    ['Images.Example.', 'images.example'],
    ['images.example..', 'images.example.'], // only the one root dot goes
    ['[::1]', '::1'],
    ['[2606:4700:4700::1111]', '2606:4700:4700::1111'],
    ['[2606:4700:4700::1111', '[2606:4700:4700::1111'], // brackets only as a pair around the whole host
    ['2606:4700:4700::1111]', '2606:4700:4700::1111]'],
    ['x[::1]', 'x[::1]'],
    ['[::1]x', '[::1]x'],
    ['127.0.0.1', '127.0.0.1'],
  ])('%j → %j', (hostname, expected) => {
    expect(normalizeHost(hostname)).toBe(expected)
  })
})

describe('refuseName: internal names', () => {
  const policy = createHostPolicy(limits())

  it.each([
    'localhost',
    'LOCALHOST.',
    'app.localhost',
    'printer.local',
    'metadata.google.internal',
    'internal',
    'db.localdomain',
    'localdomain',
    'router.home.arpa',
    'home.arpa',
  ])('refuses %j as internal', (host) => {
    expect(policy.refuseName(host)).toBe('the host name is an internal one')
  })

  // The pattern is anchored at both ends of a label: only the last labels decide.
  it.each([
    'internal-cdn.example.com',
    'localhost.example.com',
    'local.example.com',
    'cdn.glocal',
    'images.notinternal',
    'myhome.arpa.example',
    'cdn.myhome.arpa',
    'homexarpa.example',
  ])('lets %j through: internal words elsewhere in the name do not count', (host) => {
    expect(policy.refuseName(host)).toBeUndefined()
  })
})

describe('refuseName: single labels and IP literals', () => {
  const policy = createHostPolicy(limits())

  it.each(['intranet', 'INTRANET.', 'printer'])('refuses the single-label name %j', (host) => {
    expect(policy.refuseName(host)).toBe('single-label host names are not allowed')
  })

  it.each(['example.com', 'images.example.com', '8.8.8.8', '::1', '[::1]', '[2606:4700:4700::1111]'])(
    'leaves %j to the address check (names with a dot, IP literals)',
    (host) => {
      expect(policy.refuseName(host)).toBeUndefined()
    },
  )
})

describe('allowHosts', () => {
  it('matches an exact entry exactly: not a longer name, not a subdomain, not a prefix', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['images.test'] }))
    expect(policy.trustsName('images.test')).toBe(true)
    expect(policy.trustsName('evilimages.test')).toBe(false)
    expect(policy.trustsName('cdn.images.test')).toBe(false)
    expect(policy.trustsName('images.test.evil')).toBe(false)
    expect(policy.trustsName('images.tes')).toBe(false)
    expect(policy.trustsName('test')).toBe(false)
  })

  it('compares normalized names on both sides', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['Images.Test.'] }))
    expect(policy.trustsName('images.test')).toBe(true)
    expect(policy.trustsName('IMAGES.TEST.')).toBe(true)
    expect(policy.trustsName('images.test.evil')).toBe(false)
  })

  it('matches a *.domain entry against subdomains at any depth, but not the domain itself or a look-alike', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['*.example.com'] }))
    expect(policy.trustsName('cdn.example.com')).toBe(true)
    expect(policy.trustsName('a.b.example.com')).toBe(true)
    expect(policy.trustsName('CDN.Example.com.')).toBe(true)
    expect(policy.trustsName('example.com')).toBe(false)
    expect(policy.trustsName('badexample.com')).toBe(false)
    expect(policy.trustsName('cdn.example.com.evil')).toBe(false)
    expect(policy.trustsName('example.com.cdn')).toBe(false)
  })

  it('treats a * anywhere but a leading "*." as a literal name', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['cdn.*', '*example.com'] }))
    expect(policy.trustsName('cdn.example.com')).toBe(false)
    expect(policy.trustsName('badexample.com')).toBe(false)
    expect(policy.trustsName('cdn.*')).toBe(true)
  })

  it('trusts nothing when empty', () => {
    const policy = createHostPolicy(limits())
    expect(policy.trustsName('images.test')).toBe(false)
    expect(policy.trustsName('')).toBe(false)
  })

  it('admits an internal or single-label name the operator listed, and only that one', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['intranet', 'printer.local', 'metadata.google.internal'] }))
    expect(policy.refuseName('intranet')).toBeUndefined()
    expect(policy.refuseName('INTRANET.')).toBeUndefined()
    expect(policy.refuseName('printer.local')).toBeUndefined()
    expect(policy.refuseName('metadata.google.internal')).toBeUndefined()
    expect(policy.refuseName('other')).toBe('single-label host names are not allowed')
    expect(policy.refuseName('scanner.local')).toBe('the host name is an internal one')
  })

  it('trusts a bracketed IPv6 literal entry by its bare address, as URL hosts are normalized', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['[::1]'] }))
    expect(policy.trustsName('::1')).toBe(true)
    expect(policy.trustsName('[::1]')).toBe(true)
    expect(policy.trustsName('::2')).toBe(false)
  })
})

describe('denyHosts', () => {
  it('refuses a listed name before anything else, even one allowHosts trusts', () => {
    const policy = createHostPolicy(limits({ allowHosts: ['images.test', 'intranet'], denyHosts: ['images.test', 'intranet'] }))
    expect(policy.refuseName('images.test')).toBe('the host is on the deny list')
    expect(policy.refuseName('Images.Test.')).toBe('the host is on the deny list')
    expect(policy.refuseName('intranet')).toBe('the host is on the deny list')
  })

  it('matches exact entries exactly and *.domain entries against subdomains only', () => {
    const policy = createHostPolicy(limits({ denyHosts: ['bad.example', '*.evil.example'] }))
    expect(policy.refuseName('bad.example')).toBe('the host is on the deny list')
    expect(policy.refuseName('notbad.example')).toBeUndefined()
    expect(policy.refuseName('cdn.bad.example')).toBeUndefined()
    expect(policy.refuseName('x.evil.example')).toBe('the host is on the deny list')
    expect(policy.refuseName('evil.example')).toBeUndefined()
    expect(policy.refuseName('notevil.example')).toBeUndefined()
  })

  it('does not make the deny list a trust list', () => {
    const policy = createHostPolicy(limits({ denyHosts: ['bad.example'] }))
    expect(policy.trustsName('bad.example')).toBe(false)
    expect(policy.trustsName('good.example')).toBe(false)
  })
})

describe('addresses', () => {
  it('is the address policy of allowNetworks', () => {
    const open = createHostPolicy(limits({ allowNetworks: ['10.0.0.0/8'] }))
    expect(open.addresses.isAllowed('10.1.2.3')).toBe(true)
    expect(open.addresses.isAllowed('192.168.1.1')).toBe(false)
    expect(open.addresses.isAllowed('8.8.8.8')).toBe(true)
    expect(createHostPolicy(limits()).addresses.isAllowed('10.1.2.3')).toBe(false)
  })

  it('throws on an invalid allowNetworks entry, naming it', () => {
    expect(() => createHostPolicy(limits({ allowNetworks: ['10.1.2.3/8'] }))).toThrow('invalid network "10.1.2.3/8"')
  })
})
