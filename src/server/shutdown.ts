import type { Server } from 'node:http'
import type { Logger } from 'pino'
import type { Lifecycle } from './lifecycle.js'

/**
 * SIGTERM handling: stop accepting connections and report not-ready at once, let in-flight requests
 * (streams included) finish, and after `graceMs` close whatever is still open. Resolves when the
 * server has closed.
 */
export function drainServer(server: Server, lifecycle: Lifecycle, graceMs: number, log: Logger): Promise<void> {
  lifecycle.draining = true
  return new Promise((resolve) => {
    const deadline = setTimeout(() => {
      log.warn({ graceMs }, 'shutdown grace period over: closing remaining connections')
      server.closeAllConnections()
    }, graceMs)
    deadline.unref()
    // A keep-alive connection whose request finishes during the drain would otherwise idle until
    // its keep-alive timeout; sweep idle ones until the server has closed.
    const sweep = setInterval(() => server.closeIdleConnections(), 100)
    sweep.unref()
    server.close(() => {
      clearTimeout(deadline)
      clearInterval(sweep)
      resolve()
    })
    server.closeIdleConnections()
  })
}
