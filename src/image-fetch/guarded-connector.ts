import type { Socket } from 'node:net'
import type { buildConnector } from 'undici'
import { parseIpLiteralHost } from './address-policy.js'
import { normalizeHost, type HostPolicy } from './host-policy.js'
import { ImageFetchError } from './image-fetch-error.js'
import type { ImageNetwork, ResolvedAddress } from './network.js'

/**
 * undici's connector for image downloads: it resolves the host itself, refuses the connection if
 * ANY answer is forbidden (a mixed answer is an attack, not bad luck), and dials exactly the address
 * it checked. Check and connect happen in one place, so a DNS answer that changes in between
 * (rebinding) cannot slip through: there is no second lookup.
 */
export function guardedConnector(network: ImageNetwork, policy: HostPolicy, timeoutMs: number): buildConnector.connector {
  return function connectGuarded(options, callback) {
    let settled = false
    let socket: Socket | undefined
    const finish = (err: Error | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err) {
        socket?.destroy()
        callback(err, null)
      } else {
        callback(null, socket as Socket)
      }
    }
    const timer = setTimeout(() => finish(new ImageFetchError('timeout', 'connecting to the image host timed out')), timeoutMs)
    const tls = options.protocol === 'https:'
    const port = Number(options.port) || (tls ? 443 : 80)
    vettedAddress(options.hostname, network, policy).then(
      (target) => {
        if (settled) return
        socket = network.dial({ ...target, port, hostname: normalizeHost(options.hostname), tls })
        socket.once(tls ? 'secureConnect' : 'connect', () => finish(null))
        socket.once('error', (err) =>
          finish(new ImageFetchError('failed', `could not connect to the image host (${(err as NodeJS.ErrnoException).code ?? 'error'})`)),
        )
      },
      (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
    )
  }
}

export async function vettedAddress(hostname: string, network: ImageNetwork, policy: HostPolicy): Promise<ResolvedAddress> {
  const host = normalizeHost(hostname)
  const refusal = policy.refuseName(host)
  if (refusal) throw new ImageFetchError('forbidden', refusal)
  const literal = parseIpLiteralHost(host)
  let answers: ResolvedAddress[]
  if (literal) {
    answers = [{ address: literal, family: literal.includes(':') ? 6 : 4 }]
  } else {
    try {
      answers = await network.resolve(host)
    } catch {
      throw new ImageFetchError('failed', 'the image host name could not be resolved')
    }
  }
  const first = answers[0]
  if (!first) throw new ImageFetchError('failed', 'the image host name could not be resolved')
  if (!policy.trustsName(host) && answers.some((a) => !policy.addresses.isAllowed(a.address))) {
    // Say what kind of address, never which: the client must not learn our internal topology.
    throw new ImageFetchError('forbidden', 'the host resolves to a private, loopback, link-local or reserved address')
  }
  return first
}
