import type { ImageNetwork } from '../../src/image-fetch/network.js'
import type { LoopbackNetwork } from './loopback-network.js'

/**
 * A LoopbackNetwork on which `https:` URLs work against the plain-HTTP image server: a TLS dial gets
 * the loopback TCP socket and is told `secureConnect` as soon as it connects. No certificate is
 * involved, so this exists only for tests about what the fetcher does with https URLs (redirect
 * downgrades); every dial still goes through, and is recorded and policed by, `inner`.
 */
export function pretendTls(inner: LoopbackNetwork): ImageNetwork {
  return {
    resolve: inner.resolve,
    dial(target) {
      const socket = inner.dial(target)
      if (target.tls) socket.once('connect', () => socket.emit('secureConnect'))
      return socket
    },
  }
}
