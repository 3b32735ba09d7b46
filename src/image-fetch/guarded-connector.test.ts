import { Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { FetchLimits } from './fetch-limits.js'
import { guardedConnector, vettedAddress } from './guarded-connector.js'
import { createHostPolicy, type HostPolicy } from './host-policy.js'
import { ImageFetchError } from './image-fetch-error.js'
import type { DialTarget, ImageNetwork, ResolvedAddress } from './network.js'

// The connect-time half of the SSRF guard, against a network that never touches a real one:
// names resolve only to what the test says, and a dial is recorded and handed a socket that is
// never connected, so even a broken guard sends no packet anywhere. The tests play the socket's
// events themselves.

const TIMEOUT_MS = 3_000

function policy(overrides: Partial<FetchLimits> = {}): HostPolicy {
  return createHostPolicy({
    allowedPorts: [80, 443],
    maxRedirects: 3,
    connectTimeoutMs: TIMEOUT_MS,
    headersTimeoutMs: 5_000,
    totalTimeoutMs: 10_000,
    allowHosts: [],
    allowNetworks: [],
    denyHosts: [],
    concurrencyPerRequest: 4,
    maxConcurrent: 64,
    ...overrides,
  })
}

class RecordingNetwork implements ImageNetwork {
  readonly answers = new Map<string, () => Promise<ResolvedAddress[]>>()
  readonly lookups: string[] = []
  readonly dials: DialTarget[] = []
  readonly sockets: Socket[] = []

  answer(host: string, ...addresses: string[]): this {
    this.answers.set(host, async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
    return this
  }

  readonly resolve = (host: string): Promise<ResolvedAddress[]> => {
    this.lookups.push(host)
    const answer = this.answers.get(host)
    return answer ? answer() : Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }))
  }

  readonly dial = (target: DialTarget): Socket => {
    this.dials.push(target)
    const socket = new Socket() // never connected
    this.sockets.push(socket)
    return socket
  }
}

type Outcome = { err: Error | null; socket: unknown; calls: number }

/** Calls the connector; resolves on its first callback, and keeps counting callbacks after that. */
function connect(network: ImageNetwork, hostPolicy: HostPolicy, url: string): Promise<Outcome> {
  const { hostname, protocol, port } = new URL(url)
  const outcome: Outcome = { err: null, socket: undefined, calls: 0 }
  return new Promise((resolve) => {
    guardedConnector(
      network,
      hostPolicy,
      TIMEOUT_MS,
    )({ hostname, protocol, port }, (err, socket) => {
      outcome.calls++
      if (outcome.calls === 1) {
        outcome.err = err
        outcome.socket = socket
        resolve(outcome)
      }
    })
  })
}

/** Lets pending promise callbacks (the lookup, the dial) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

afterEach(() => {
  vi.useRealTimers()
})

describe('vettedAddress', () => {
  it('resolves a name and returns its first answer when every answer is allowed', async () => {
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34', '2606:4700:4700::1111')
    expect(await vettedAddress('Images.Example.', network, policy())).toEqual({ address: '93.184.216.34', family: 4 })
    expect(network.lookups).toEqual(['images.example'])
  })

  it('refuses a name whose answers include any forbidden address, without naming it', async () => {
    for (const answers of [['10.1.2.3'], ['93.184.216.34', '10.1.2.3'], ['10.1.2.3', '93.184.216.34'], ['::1']]) {
      const network = new RecordingNetwork().answer('evil.example', ...answers)
      const err = await vettedAddress('evil.example', network, policy()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ImageFetchError)
      expect(err).toMatchObject({
        reason: 'forbidden',
        detail: 'the host resolves to a private, loopback, link-local or reserved address',
      })
    }
  })

  it('accepts forbidden answers for a name allowHosts trusts', async () => {
    const network = new RecordingNetwork().answer('images.test', '127.0.0.1', '10.0.0.1')
    expect(await vettedAddress('images.test', network, policy({ allowHosts: ['images.test'] }))).toEqual({
      address: '127.0.0.1',
      family: 4,
    })
  })

  it('accepts forbidden answers inside allowNetworks', async () => {
    const network = new RecordingNetwork().answer('db.example', '10.0.0.7')
    expect(await vettedAddress('db.example', network, policy({ allowNetworks: ['10.0.0.0/8'] }))).toEqual({
      address: '10.0.0.7',
      family: 4,
    })
  })

  it('refuses a refused name before any lookup', async () => {
    const network = new RecordingNetwork().answer('localhost', '93.184.216.34').answer('bad.example', '93.184.216.34')
    await expect(vettedAddress('localhost', network, policy())).rejects.toMatchObject({
      reason: 'forbidden',
      detail: 'the host name is an internal one',
    })
    await expect(vettedAddress('bad.example', network, policy({ denyHosts: ['bad.example'] }))).rejects.toMatchObject({
      reason: 'forbidden',
      detail: 'the host is on the deny list',
    })
    expect(network.lookups).toEqual([])
  })

  it('takes an IP literal as its own answer, with its family, without a lookup', async () => {
    const network = new RecordingNetwork()
    const open = policy({ allowNetworks: ['127.0.0.1', '::1'] })
    expect(await vettedAddress('127.0.0.1', network, open)).toEqual({ address: '127.0.0.1', family: 4 })
    expect(await vettedAddress('[::1]', network, open)).toEqual({ address: '::1', family: 6 })
    expect(await vettedAddress('8.8.8.8', network, policy())).toEqual({ address: '8.8.8.8', family: 4 })
    await expect(vettedAddress('[::1]', network, policy())).rejects.toMatchObject({ reason: 'forbidden' })
    expect(network.lookups).toEqual([])
  })

  it('fails with "could not be resolved" when the lookup fails or answers nothing', async () => {
    const network = new RecordingNetwork().answer('empty.example')
    for (const host of ['nowhere.example', 'empty.example']) {
      await expect(vettedAddress(host, network, policy())).rejects.toMatchObject({
        reason: 'failed',
        detail: 'the image host name could not be resolved',
      })
    }
  })
})

describe('guardedConnector', () => {
  it('dials exactly the vetted address, with the port and the URL host for TLS, and hands over that socket on connect', async () => {
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    const pending = connect(network, policy(), 'http://Images.Example:8080/a.png')
    await settle()
    expect(network.dials).toEqual([{ address: '93.184.216.34', family: 4, port: 8080, hostname: 'images.example', tls: false }])
    network.sockets[0]?.emit('connect')
    const outcome = await pending
    expect(outcome.err).toBeNull()
    expect(outcome.socket).toBe(network.sockets[0])
  })

  it('defaults the port by protocol', async () => {
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    void connect(network, policy(), 'http://images.example/a.png')
    void connect(network, policy(), 'https://images.example/a.png')
    await settle()
    expect(network.dials.map((d) => [d.port, d.tls])).toEqual([
      [80, false],
      [443, true],
    ])
    for (const socket of network.sockets) socket.destroy()
  })

  it('over TLS, waits for secureConnect, not the TCP connect', async () => {
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    const pending = connect(network, policy(), 'https://images.example/a.png')
    await settle()
    const [socket] = network.sockets
    let done = false
    void pending.then(() => (done = true))
    socket?.emit('connect')
    await settle()
    expect(done).toBe(false)
    socket?.emit('secureConnect')
    const outcome = await pending
    expect(outcome.err).toBeNull()
    expect(outcome.socket).toBe(socket)
  })

  it('passes a refusal on without dialling', async () => {
    const network = new RecordingNetwork().answer('evil.example', '10.1.2.3')
    const outcome = await connect(network, policy(), 'http://evil.example/a.png')
    expect(outcome.err).toBeInstanceOf(ImageFetchError)
    expect(outcome.err).toMatchObject({ reason: 'forbidden' })
    expect(outcome.socket).toBeNull()
    expect(network.dials).toEqual([])
  })

  it('reports a socket error as "failed" with its code, destroying the socket', async () => {
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    const pending = connect(network, policy(), 'http://images.example/a.png')
    await settle()
    const [socket] = network.sockets
    socket?.emit('error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    const outcome = await pending
    expect(outcome.err).toBeInstanceOf(ImageFetchError)
    expect(outcome.err).toMatchObject({ reason: 'failed', detail: 'could not connect to the image host (ECONNREFUSED)' })
    expect(outcome.socket).toBeNull()
    expect(socket?.destroyed).toBe(true)
  })

  it('says "error" for a socket error without a code', async () => {
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    const pending = connect(network, policy(), 'http://images.example/a.png')
    await settle()
    network.sockets[0]?.emit('error', new Error('boom'))
    expect((await pending).err).toMatchObject({ detail: 'could not connect to the image host (error)' })
  })

  it('times out a connection that does not open, destroys the socket, and answers only once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    const pending = connect(network, policy(), 'http://images.example/a.png')
    await settle()
    const [socket] = network.sockets
    vi.advanceTimersByTime(TIMEOUT_MS - 1)
    await settle()
    expect(socket?.destroyed).toBe(false)
    vi.advanceTimersByTime(1)
    const outcome = await pending
    expect(outcome.err).toBeInstanceOf(ImageFetchError)
    expect(outcome.err).toMatchObject({ reason: 'timeout', detail: 'connecting to the image host timed out' })
    expect(socket?.destroyed).toBe(true)
    socket?.emit('connect') // too late: ignored
    await settle()
    expect(outcome.calls).toBe(1)
  })

  it('does not dial when the lookup answers after the timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const network = new RecordingNetwork()
    let answer: (addresses: ResolvedAddress[]) => void = () => undefined
    network.answers.set('slow.example', () => new Promise((resolve) => (answer = resolve)))
    const pending = connect(network, policy(), 'http://slow.example/a.png')
    vi.advanceTimersByTime(TIMEOUT_MS)
    expect((await pending).err).toMatchObject({ reason: 'timeout' })
    answer([{ address: '93.184.216.34', family: 4 }])
    await settle()
    expect(network.dials).toEqual([])
  })

  it('clears its timer once connected, so nothing is left pending', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const network = new RecordingNetwork().answer('images.example', '93.184.216.34')
    const pending = connect(network, policy(), 'http://images.example/a.png')
    await settle()
    expect(vi.getTimerCount()).toBe(1)
    network.sockets[0]?.emit('connect')
    const outcome = await pending
    expect(outcome.err).toBeNull()
    expect(vi.getTimerCount()).toBe(0)
    network.sockets[0]?.emit('error', new Error('later'))
    expect(outcome.calls).toBe(1)
  })

  it('wraps a non-Error rejection from the lookup in an Error', async () => {
    const network = new RecordingNetwork()
    const strange: ImageNetwork = {
      resolve: () => Promise.reject(new Error('unused')),
      dial: network.dial,
    }
    const hostPolicy: HostPolicy = {
      ...policy(),
      refuseName: () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless dependency might throw
        throw 'not an error'
      },
    }
    const outcome = await connect(strange, hostPolicy, 'http://images.example/a.png')
    expect(outcome.err).toBeInstanceOf(Error)
    expect(outcome.err?.message).toBe('not an error')
  })
})
