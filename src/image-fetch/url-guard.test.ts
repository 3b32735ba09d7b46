import { describe, expect, it } from 'vitest'
import type { FetchLimits } from './fetch-limits.js'
import { createHostPolicy } from './host-policy.js'
import { ImageFetchError } from './image-fetch-error.js'
import { checkImageUrl } from './url-guard.js'

// checkImageUrl is pure: it parses and judges a URL, and never resolves or connects. Names are
// left to the connect-time check (guarded-connector.ts); only IP-literal hosts are judged here.

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

function check(raw: string | URL, overrides: Partial<FetchLimits> = {}): URL {
  const fetch = limits(overrides)
  return checkImageUrl(raw, fetch, createHostPolicy(fetch))
}

/** The ImageFetchError `check` throws, as plain data. */
function refusal(raw: string | URL, overrides: Partial<FetchLimits> = {}): { reason: string; detail: string } {
  try {
    check(raw, overrides)
  } catch (err) {
    expect(err).toBeInstanceOf(ImageFetchError)
    const { reason, detail } = err as ImageFetchError
    return { reason, detail }
  }
  throw new Error(`${String(raw)} was accepted`)
}

const FORBIDDEN_ADDRESS = { reason: 'forbidden', detail: 'the host is a private, loopback, link-local or reserved address' }

describe('checkImageUrl: parsing', () => {
  it('returns the parsed URL, which is the one to fetch', () => {
    const url = check('http://Images.Example.com/cat.png?size=2#frag')
    expect(url).toBeInstanceOf(URL)
    expect(url.href).toBe('http://images.example.com/cat.png?size=2#frag')
  })

  it('takes a URL object as it is (a redirect hop) and returns that very object', () => {
    const hop = new URL('/next.png', 'https://images.example.com/a/b.png')
    expect(check(hop)).toBe(hop)
  })

  it.each(['not a url', '', '/relative/path.png', 'http://exa mple.com/', 'http://[::1/', 'http://999.1.1.1/'])(
    'refuses %j as invalid',
    (raw) => {
      expect(refusal(raw)).toEqual({ reason: 'invalid', detail: 'the image URL is not a valid URL' })
    },
  )
})

describe('checkImageUrl: scheme', () => {
  it.each(['http://example.com/a.png', 'https://example.com/a.png', 'HTTPS://example.com/a.png'])('accepts %s', (raw) => {
    expect(check(raw).hostname).toBe('example.com')
  })

  it.each([
    ['file:///etc/passwd', 'file:'],
    ['ftp://example.com/a.png', 'ftp:'],
    ['gopher://example.com/', 'gopher:'],
    ['javascript:alert(1)', 'javascript:'],
    ['ws://example.com/', 'ws:'],
    ['data:image/png;base64,AAAA', 'data:'],
  ])('refuses %s, naming the scheme', (raw, scheme) => {
    expect(refusal(raw)).toEqual({
      reason: 'forbidden',
      detail: `the URL scheme "${scheme}" is not allowed; use http(s) or a data: URL`,
    })
  })

  it('names at most 20 characters of a long scheme', () => {
    const scheme = `x${'a'.repeat(40)}:`
    const { detail } = refusal(`${scheme}//example.com/`)
    expect(detail).toContain(`"${scheme.slice(0, 20)}"`)
    expect(detail).not.toContain(scheme.slice(0, 21))
  })
})

describe('checkImageUrl: user info', () => {
  const USER_INFO = { reason: 'forbidden', detail: 'URLs with user info (user@host) are not allowed' }

  it.each([
    'http://user@example.com/a.png',
    'http://user:pass@example.com/a.png',
    'http://:secret@example.com/a.png', // a password alone
    'https://:secret@example.com/a.png',
    'http://user:@example.com/a.png',
  ])('refuses %s', (raw) => {
    expect(refusal(raw)).toEqual(USER_INFO)
  })

  it('accepts an empty user info, which the parser drops', () => {
    expect(check('http://@example.com/a.png').href).toBe('http://example.com/a.png')
  })
})

describe('checkImageUrl: port', () => {
  it('defaults the port by scheme: http is 80, https is 443', () => {
    expect(refusal('http://example.com/a.png', { allowedPorts: [443] })).toEqual({
      reason: 'forbidden',
      detail: 'port 80 is not allowed (images.fetch.allowedPorts: 443)',
    })
    expect(check('https://example.com/a.png', { allowedPorts: [443] }).port).toBe('')
    expect(refusal('https://example.com/a.png', { allowedPorts: [80] })).toEqual({
      reason: 'forbidden',
      detail: 'port 443 is not allowed (images.fetch.allowedPorts: 80)',
    })
    expect(check('http://example.com/a.png', { allowedPorts: [80] }).port).toBe('')
  })

  it('takes an explicit port as written, whatever the scheme', () => {
    expect(check('https://example.com:80/a.png', { allowedPorts: [80] }).port).toBe('80')
    expect(check('http://example.com:443/a.png', { allowedPorts: [443] }).port).toBe('443')
    expect(check('http://example.com:8080/a.png', { allowedPorts: [8080] }).port).toBe('8080')
    expect(refusal('https://example.com:8443/a.png', { allowedPorts: [80, 443] })).toEqual({
      reason: 'forbidden',
      detail: 'port 8443 is not allowed (images.fetch.allowedPorts: 80, 443)',
    })
    expect(refusal('http://example.com:80/a.png', { allowedPorts: [443, 8080] }).detail).toBe(
      'port 80 is not allowed (images.fetch.allowedPorts: 443, 8080)',
    )
  })
})

describe('checkImageUrl: host names', () => {
  it('leaves names to the connect-time check: a public-looking name passes without a lookup', () => {
    expect(check('http://evil.example/a.png').hostname).toBe('evil.example')
  })

  it.each([
    ['http://localhost/a.png', 'the host name is an internal one'],
    ['http://LOCALHOST./a.png', 'the host name is an internal one'],
    ['http://metadata.google.internal/', 'the host name is an internal one'],
    ['http://intranet/a.png', 'single-label host names are not allowed'],
  ])('refuses %s: %s', (raw, detail) => {
    expect(refusal(raw)).toEqual({ reason: 'forbidden', detail })
  })

  it('refuses a denied name, on its normalized spelling too', () => {
    expect(refusal('http://Bad.Example./a.png', { denyHosts: ['bad.example'] })).toEqual({
      reason: 'forbidden',
      detail: 'the host is on the deny list',
    })
  })

  it('accepts an internal name the operator allowed', () => {
    expect(check('http://intranet/a.png', { allowHosts: ['intranet'] }).hostname).toBe('intranet')
    expect(check('http://internal-cdn.example.com/a.png').hostname).toBe('internal-cdn.example.com')
  })
})

describe('checkImageUrl: IP-literal hosts', () => {
  it.each(['http://8.8.8.8/a.png', 'http://134744072/a.png', 'http://[2606:4700:4700::1111]/a.png', 'http://[::ffff:8.8.8.8]/a.png'])(
    'accepts the public address in %s',
    (raw) => {
      expect(check(raw)).toBeInstanceOf(URL)
    },
  )

  it.each([
    'http://127.0.0.1/a.png',
    'http://2130706433/a.png',
    'http://0x7f.1/a.png',
    'http://[::1]/a.png',
    'http://[::ffff:127.0.0.1]/a.png',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://[fd00:ec2::254]/',
    'http://0/',
  ])('refuses the address in %s', (raw) => {
    expect(refusal(raw)).toEqual(FORBIDDEN_ADDRESS)
  })

  it('accepts an address inside allowNetworks, and only there', () => {
    const open = { allowNetworks: ['10.0.0.0/8', '::1/128'] }
    expect(check('http://10.1.2.3/a.png', open).hostname).toBe('10.1.2.3')
    expect(check('http://[::1]/a.png', open).hostname).toBe('[::1]')
    expect(refusal('http://192.168.1.1/a.png', open)).toEqual(FORBIDDEN_ADDRESS)
    expect(refusal('http://[::2]/a.png', open)).toEqual(FORBIDDEN_ADDRESS)
  })

  it('accepts an IP literal allowHosts names, bracketed IPv6 included, and only that one', () => {
    expect(check('http://127.0.0.1/a.png', { allowHosts: ['127.0.0.1'] }).hostname).toBe('127.0.0.1')
    expect(check('http://[::1]/a.png', { allowHosts: ['[::1]'] }).hostname).toBe('[::1]')
    expect(check('http://[0:0:0:0:0:0:0:1]/a.png', { allowHosts: ['[::1]'] }).hostname).toBe('[::1]')
    expect(refusal('http://127.0.0.2/a.png', { allowHosts: ['127.0.0.1'] })).toEqual(FORBIDDEN_ADDRESS)
    expect(refusal('http://[::1]/a.png', { allowHosts: ['127.0.0.1'] })).toEqual(FORBIDDEN_ADDRESS)
  })

  it('refuses a forbidden literal after the name checks: a denied literal says so', () => {
    expect(refusal('http://127.0.0.1/a.png', { denyHosts: ['127.0.0.1'], allowNetworks: ['127.0.0.1'] })).toEqual({
      reason: 'forbidden',
      detail: 'the host is on the deny list',
    })
  })
})
