import { lookup } from 'node:dns/promises'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

export type ResolvedAddress = { address: string; family: 4 | 6 }

/** Name → every address it resolves to. Injected so tests decide what each name resolves to. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>

export type DialTarget = {
  /** The vetted address: the socket goes here and nowhere else. */
  address: string
  family: 4 | 6
  port: number
  /** The URL's host, for TLS SNI and certificate checks. */
  hostname: string
  tls: boolean
}

/** Opens a socket to exactly `target.address`. Injected so tests record and refuse anything off loopback. */
export type Dialer = (target: DialTarget) => Socket

/** The image fetcher's only way onto the network. */
export type ImageNetwork = Readonly<{ resolve: Resolver; dial: Dialer }>

export const systemNetwork: ImageNetwork = {
  resolve: async (hostname) => {
    const answers = await lookup(hostname, { all: true, verbatim: true })
    return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
  },
  dial: (target) =>
    target.tls
      ? tlsConnect({
          host: target.address,
          port: target.port,
          servername: isIP(target.hostname) ? undefined : target.hostname,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host: target.address, port: target.port }),
}
