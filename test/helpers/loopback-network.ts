import { connect, Socket } from 'node:net'
import type { DialTarget, ImageNetwork, ResolvedAddress } from '../../src/image-fetch/network.js'

/**
 * The only network image fetches get in tests. Names resolve only through `names` (the test decides
 * every answer); every dial is recorded, and a dial to anything but loopback is refused without a
 * packet being sent, so even a broken guard cannot reach beyond this machine.
 */
export class LoopbackNetwork implements ImageNetwork {
  readonly names = new Map<string, () => ResolvedAddress[]>()
  readonly dials: DialTarget[] = []
  readonly refused: DialTarget[] = []
  readonly lookups: string[] = []

  constructor() {
    this.answer('images.test', '127.0.0.1') // the test image server; the guard refuses it unless config allows the host
  }

  answer(host: string, ...addresses: string[]): this {
    this.names.set(host, () => addresses.map(toResolved))
    return this
  }

  /** A name whose answers change from one lookup to the next (DNS rebinding). */
  answerInTurn(host: string, ...answers: string[]): this {
    let i = 0
    this.names.set(host, () => [toResolved(answers[Math.min(i++, answers.length - 1)] as string)])
    return this
  }

  readonly resolve = async (host: string): Promise<ResolvedAddress[]> => {
    this.lookups.push(host)
    const answer = this.names.get(host)
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
    return answer()
  }

  readonly dial = (target: DialTarget): Socket => {
    this.dials.push(target)
    if (isLoopback(target.address)) return connect({ host: target.address, port: target.port })
    this.refused.push(target)
    const socket = new Socket()
    process.nextTick(() => socket.destroy(Object.assign(new Error('refused: off loopback'), { code: 'ECONNREFUSED' })))
    return socket
  }
}

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address)
}

function toResolved(address: string): ResolvedAddress {
  return { address, family: address.includes(':') ? 6 : 4 }
}
