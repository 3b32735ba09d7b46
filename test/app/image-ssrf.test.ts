import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { loadConfig } from '../../src/config/load.js'
import { createImageFetcher } from '../../src/image-fetch/image-fetcher.js'
import { png } from '../fixtures/images.js'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { LoopbackNetwork } from '../helpers/loopback-network.js'
import { pretendTls } from '../helpers/pretend-tls-network.js'
import { buildTestApp, chatRequest, MODEL, testConfig, type TestApp } from '../helpers/test-app.js'

// Hostile image URLs. The guard must refuse each one before any connection is attempted: the
// LoopbackNetwork records every dial (and refuses any off loopback), so "nothing was dialled" is
// checked, not assumed. Where a port matters, the URL names the image server's real port, so the
// address check is the only thing between the URL and a live server.

let upstream: FakeUpstream
let server: ImageServer
let guarded: TestApp // trusts nothing; allows the image server's port
let P: number

const PNG = png(64, 48)
const PARAM = 'messages[0].content[0].image_url.url'
const ask = (url: string) =>
  chatRequest({
    model: MODEL,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url } },
          { type: 'text', text: 'Hm?' },
        ],
      },
    ],
  })

function resetNetwork({ network }: TestApp): void {
  network.dials.length = 0
  network.refused.length = 0
  network.lookups.length = 0
}

type Case = {
  name: string
  url: () => string
  code?: 'image_url_forbidden' | 'invalid_image_url'
  /** The name is resolved (once) and refused on its answer, which must never reach the client. */
  resolvesTo?: string
}

// Names the injected resolver answers with addresses the guard must refuse.
const ANSWERS: Record<string, string[]> = {
  'evil.example': ['10.1.2.3'],
  'mixed.example': ['93.184.216.34', '10.9.8.7'],
  'mixed-private-first.example': ['10.9.8.7', '93.184.216.34'],
  'loop.example': ['127.0.0.1'],
  'loop6.example': ['::1'],
  'mapped.example': ['::ffff:169.254.169.254'],
  '127.0.0.1.nip.io': ['127.0.0.1'],
}

const cases: Case[] = [
  // Loopback in every spelling, on the live image server's port.
  { name: 'loopback dotted', url: () => `http://127.0.0.1:${P}/png` },
  { name: 'loopback as a decimal dword', url: () => `http://2130706433:${P}/png` },
  { name: 'loopback in hex, short form', url: () => `http://0x7f.1:${P}/png` },
  { name: 'loopback as one hex number', url: () => `http://0x7f000001:${P}/png` },
  { name: 'loopback with an octal byte', url: () => `http://0177.0.0.1:${P}/png` },
  { name: 'loopback, two-part form', url: () => `http://127.1:${P}/png` },
  { name: 'loopback, percent-encoded', url: () => `http://%31%32%37.0.0.1:${P}/png` },
  { name: 'loopback in circled digits', url: () => `http://①②⑦.0.0.1:${P}/png` },
  { name: 'localhost', url: () => `http://localhost:${P}/png` },
  { name: 'LOCALHOST. (case, trailing dot)', url: () => `http://LOCALHOST.:${P}/png` },
  { name: 'IPv6 loopback', url: () => `http://[::1]:${P}/png` },
  { name: 'IPv4-mapped loopback, dotted', url: () => `http://[::ffff:127.0.0.1]:${P}/png` },
  { name: 'IPv4-mapped loopback, long hex', url: () => `http://[0:0:0:0:0:ffff:7f00:1]:${P}/png` },
  { name: 'a name resolving to loopback (the image server itself)', url: () => `http://images.test:${P}/png`, resolvesTo: '127.0.0.1' },
  { name: 'a name resolving to loopback', url: () => `http://loop.example:${P}/png`, resolvesTo: '127.0.0.1' },
  { name: 'a name resolving to IPv6 loopback', url: () => `http://loop6.example:${P}/png`, resolvesTo: '::1' },
  { name: 'a *.nip.io-style name', url: () => `http://127.0.0.1.nip.io:${P}/png`, resolvesTo: '127.0.0.1' },
  // Private, shared and link-local space; cloud metadata.
  { name: '10/8', url: () => 'http://10.0.0.1/' },
  { name: '172.16/12, bottom', url: () => 'http://172.16.0.1/' },
  { name: '172.16/12, top', url: () => 'http://172.31.255.255/' },
  { name: '192.168/16', url: () => 'http://192.168.1.1/' },
  { name: 'CGNAT 100.64/10', url: () => 'http://100.64.0.1/' },
  { name: 'Alibaba metadata', url: () => 'http://100.100.100.200/latest/meta-data/' },
  { name: 'AWS/GCP/Azure metadata', url: () => 'http://169.254.169.254/latest/meta-data/' },
  { name: 'GCP metadata by name', url: () => 'http://metadata.google.internal/computeMetadata/v1/' },
  { name: 'ULA fd00::1', url: () => 'http://[fd00::1]/' },
  { name: 'AWS IMDS over IPv6', url: () => 'http://[fd00:ec2::254]/latest/meta-data/' },
  { name: 'link-local fe80::1', url: () => 'http://[fe80::1]/' },
  { name: 'NAT64 of the metadata address', url: () => 'http://[64:ff9b::a9fe:a9fe]/' },
  { name: '6to4 of the metadata address', url: () => 'http://[2002:a9fe:a9fe::]/' },
  { name: 'IPv4-mapped private, hex', url: () => 'http://[::ffff:a00:1]/' },
  { name: 'unspecified 0.0.0.0', url: () => 'http://0.0.0.0/' },
  { name: 'unspecified as 0', url: () => `http://0:${P}/png` },
  { name: 'unspecified ::', url: () => 'http://[::]/' },
  { name: 'multicast', url: () => 'http://224.0.0.1/' },
  { name: 'broadcast', url: () => 'http://255.255.255.255/' },
  { name: 'a name resolving to a private address', url: () => 'http://evil.example/cat.png', resolvesTo: '10.1.2.3' },
  { name: 'mixed answers, public first', url: () => 'http://mixed.example/cat.png', resolvesTo: '10.9.8.7' },
  { name: 'mixed answers, private first', url: () => 'http://mixed-private-first.example/cat.png', resolvesTo: '10.9.8.7' },
  { name: 'a name resolving to IPv4-mapped metadata', url: () => 'http://mapped.example/', resolvesTo: '169.254.169.254' },
  // Inward-looking names.
  { name: 'a single-label name', url: () => 'http://intranet/' },
  { name: '*.local', url: () => 'http://printer.local/' },
  { name: '*.home.arpa', url: () => 'http://router.home.arpa/' },
  // Parser differentials and user info.
  { name: 'backslash before @ (host is 127.0.0.1)', url: () => `http://127.0.0.1:${P}\\@example.com/` },
  { name: 'user info before a loopback host', url: () => `http://a@127.0.0.1:${P}/png` },
  { name: 'user and password', url: () => `http://user:pass@images.test:${P}/png` },
  { name: 'user info before a public host', url: () => 'http://a@example.com/x.png' },
  // Schemes and ports.
  { name: 'file:', url: () => 'file:///etc/passwd' },
  { name: 'ftp:', url: () => 'ftp://example.com/x.png' },
  { name: 'gopher:', url: () => 'gopher://example.com/' },
  { name: 'javascript:', url: () => 'javascript:alert(1)' },
  { name: 'a port not allowed', url: () => 'http://example.com:8080/' },
  { name: 'https on a port not allowed', url: () => 'https://example.com:8443/x.png' },
  // Unparsable.
  { name: 'not a URL', url: () => 'not a url', code: 'invalid_image_url' },
  { name: 'a space in the host', url: () => 'http://exa mple.com/x.png', code: 'invalid_image_url' },
  { name: 'an IPv4 byte over 255', url: () => 'http://999.1.1.1/', code: 'invalid_image_url' },
  { name: 'an unclosed IPv6 bracket', url: () => 'http://[::1/', code: 'invalid_image_url' },
  { name: 'an IPv6 zone index', url: () => 'http://[fe80::1%25eth0]/', code: 'invalid_image_url' },
  { name: 'a port out of range', url: () => 'http://127.0.0.1:99999/', code: 'invalid_image_url' },
]

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  server = await ImageServer.start()
  P = server.port
  guarded = buildTestApp({ ...testConfig(upstream.baseUrl), images: { fetch: { allowedPorts: [80, 443, P] } } })
  for (const [name, addresses] of Object.entries(ANSWERS)) guarded.network.answer(name, ...addresses)
})
afterAll(async () => {
  await server.close()
  await upstream.close()
})
afterEach(() => {
  resetNetwork(guarded)
  server.hits.clear()
  upstream.calls.length = 0
})

describe('hostile URLs, with nothing trusted', () => {
  it.each(cases)('refuses $name', async ({ url, code = 'image_url_forbidden', resolvesTo }) => {
    const { network } = guarded
    const { raw, ...error } = await errorOf(await guarded.app.request('/v1/chat/completions', ask(url())), 400, code)
    expect(error.param).toBe(PARAM)
    expect(error.message).toContain('messages[0].content[0]')
    expect(error.type).toBe('invalid_request_error')
    // Refused before any connection: nothing dialled (so nothing had to be refused), nothing served.
    expect(network.dials).toEqual([])
    expect(network.refused).toEqual([])
    expect(server.hits.size).toBe(0)
    expect(upstream.calls).toHaveLength(0)
    if (resolvesTo) {
      // Refused on the resolver's answer, which the client never gets to see.
      expect(network.lookups).toHaveLength(1)
      expect(raw).not.toContain(resolvesTo)
    } else {
      expect(network.lookups).toEqual([]) // refused from the URL alone, without a DNS query
    }
  })

  it('never names the internal address a host resolved to', async () => {
    const { raw } = await errorOf(
      await guarded.app.request('/v1/chat/completions', ask('http://evil.example/x.png')),
      400,
      'image_url_forbidden',
    )
    expect(raw).not.toContain('10.1.2.3')
    expect(raw).toMatch(/private, loopback, link-local or reserved/)
  })

  it('answers image_fetch_failed for a name that does not resolve, without dialling', async () => {
    const error = await errorOf(
      await guarded.app.request('/v1/chat/completions', ask('http://nowhere.example/x.png')),
      400,
      'image_fetch_failed',
    )
    expect(error.message).toContain('could not be resolved')
    expect(guarded.network.lookups).toEqual(['nowhere.example'])
    expect(guarded.network.dials).toEqual([])
  })
})

describe('DNS rebinding', () => {
  it('dials the address it checked, resolving once: the rebound loopback answer is never used', async () => {
    const { app, network } = guarded
    network.answerInTurn('rebind.example', '93.184.216.34', '127.0.0.1')
    const { raw, ...error } = await errorOf(
      await app.request('/v1/chat/completions', ask(`http://rebind.example:${P}/png`)),
      400,
      'image_fetch_failed',
    )
    expect(error.param).toBe(PARAM)
    const dials = network.dials.filter((d) => d.hostname === 'rebind.example')
    expect(dials.map((d) => [d.address, d.port])).toEqual([['93.184.216.34', P]])
    expect(network.dials.some((d) => d.address === '127.0.0.1')).toBe(false)
    // The one dial was the checked public address, which the test network refuses to leave loopback for.
    expect(network.refused.map((d) => [d.hostname, d.address])).toEqual([['rebind.example', '93.184.216.34']])
    expect(network.lookups.filter((h) => h === 'rebind.example')).toHaveLength(1)
    expect(server.hits.size).toBe(0)
    expect(raw).not.toContain('93.184.216.34')
    expect(raw).not.toContain('127.0.0.1')
  })
})

describe('redirects from a trusted host', () => {
  let trusting: TestApp
  beforeAll(() => {
    trusting = buildTestApp({ ...testConfig(upstream.baseUrl), images: imageConfig(server) })
    trusting.network.answer('evil.example', '10.1.2.3')
  })
  afterEach(() => resetNetwork(trusting))

  it.each([
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', 'http://10.0.0.5/'],
    ['localhost on the live port', () => `http://localhost:${P}/png`],
    ['loopback by IP on the live port', () => `http://127.0.0.1:${P}/png`],
    ['a name resolving to a private address', 'http://evil.example/x.png'],
    ['file:', 'file:///etc/passwd'],
    ['a port not allowed', 'http://images.test:8080/png'],
    ['a URL with user info', () => `http://user:pass@images.test:${P}/png`],
  ])('checks the hop: a redirect to %s is refused', async (_name, target) => {
    const location = typeof target === 'string' ? target : target()
    server.redirect('/bounce', location)
    const { network } = trusting
    const { raw, ...error } = await errorOf(
      await trusting.app.request('/v1/chat/completions', ask(server.url('/bounce'))),
      400,
      'image_url_forbidden',
    )
    expect(error.param).toBe(PARAM)
    expect(raw).not.toContain('10.1.2.3')
    expect(server.hits.get('/bounce')).toBe(1)
    expect(server.hits.get('/png')).toBeUndefined()
    // The only host dialled is the trusted image server, for the first hop.
    expect(network.dials.every((d) => d.hostname === 'images.test' && d.address === '127.0.0.1')).toBe(true)
    expect(network.refused).toEqual([])
    expect(upstream.calls).toHaveLength(0)
  })

  it('refuses an https → http downgrade', async () => {
    // undici dials https through the injected network; pretendTls lets https reach the plain image server.
    const network = new LoopbackNetwork()
    const config: ConfigInput = { ...testConfig(upstream.baseUrl), images: imageConfig(server) }
    const fetcher = createImageFetcher(loadConfig({}, config).config.images, pretendTls(network))
    const { app } = buildTestApp(config, { imageFetcher: fetcher })
    try {
      server.redirect('/secure-bounce', server.url('/png')) // server.url is http://
      server.redirect('/secure-hop', `https://images.test:${P}/png`)
      // https itself works, and so does an https → https redirect...
      const ok = await app.request('/v1/chat/completions', ask(`https://images.test:${P}/secure-hop`))
      expect(ok.status).toBe(200)
      expect(network.dials.length).toBeGreaterThan(0)
      expect(network.dials.every((d) => d.tls && d.address === '127.0.0.1')).toBe(true)
      expect(server.hits.get('/png')).toBe(1)
      server.hits.clear()
      // ...but not a redirect down to plain http.
      const res = await app.request('/v1/chat/completions', ask(`https://images.test:${P}/secure-bounce`))
      const error = await errorOf(res, 400, 'image_url_forbidden')
      expect(error.message).toContain('from https to http')
      expect(server.hits.get('/secure-bounce')).toBe(1)
      expect(server.hits.get('/png')).toBeUndefined()
      expect(network.dials.every((d) => d.tls)).toBe(true)
      expect(network.refused).toEqual([])
    } finally {
      await fetcher.close()
    }
  })
})

describe('operator allow and deny lists', () => {
  it('lets denyHosts win over allowHosts for the same host, refusing it before any lookup', async () => {
    const { app, network } = buildTestApp({
      ...testConfig(upstream.baseUrl),
      images: imageConfig(server, { denyHosts: ['images.test'] }),
    })
    const error = await errorOf(await app.request('/v1/chat/completions', ask(server.url('/png'))), 400, 'image_url_forbidden')
    expect(error.message).toContain('deny list')
    expect(network.lookups).toEqual([])
    expect(network.dials).toEqual([])
    expect(server.hits.size).toBe(0)
  })

  it('matches a *.domain deny pattern against subdomains, on a trailing-dot spelling too', async () => {
    const { app, network } = buildTestApp({
      ...testConfig(upstream.baseUrl),
      images: imageConfig(server, { allowHosts: ['*.test'], denyHosts: ['*.images.test'] }),
    })
    network.answer('cdn.images.test', '127.0.0.1')
    const denied = await app.request('/v1/chat/completions', ask(`http://CDN.images.test.:${P}/png`))
    await errorOf(denied, 400, 'image_url_forbidden')
    expect(network.dials).toEqual([])
    // The allow pattern alone still lets the image server through by name.
    const allowed = await app.request('/v1/chat/completions', ask(server.url('/png')))
    expect(allowed.status).toBe(200)
  })

  it('trusts a network from allowNetworks: the image server by IP URL and by a name resolving into it', async () => {
    const { app, network } = buildTestApp({
      ...testConfig(upstream.baseUrl),
      images: { fetch: { allowedPorts: [80, 443, P], allowNetworks: ['127.0.0.1/32'] } },
    })
    const byIp = await app.request('/v1/chat/completions', ask(`http://127.0.0.1:${P}/png`))
    expect(byIp.status).toBe(200)
    const sent = upstream.calls[0]?.body['messages'] as Array<{ content: Array<{ image_url?: { url: string } }> }>
    expect(sent[0]?.content[0]?.image_url?.url).toBe(`data:image/png;base64,${PNG.toString('base64')}`)
    expect(network.dials.map((d) => [d.address, d.port])).toEqual([['127.0.0.1', P]])
    expect((await app.request('/v1/chat/completions', ask(server.url('/png')))).status).toBe(200)
    // Only that network: the rest of 127/8 and IPv6 loopback stay closed.
    await errorOf(await app.request('/v1/chat/completions', ask(`http://127.0.0.2:${P}/png`)), 400, 'image_url_forbidden')
    await errorOf(await app.request('/v1/chat/completions', ask(`http://[::1]:${P}/png`)), 400, 'image_url_forbidden')
    expect(network.refused).toEqual([])
  })
})
