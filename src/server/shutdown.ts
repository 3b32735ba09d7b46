import type { Server } from 'node:http'
import type { Logger } from 'pino'
import type { Lifecycle } from './lifecycle.js'

export type DrainTimes = Readonly<{
  /** How long to keep serving after readiness has turned 503, for load balancers to stop sending. */
  delayMs: number
  /** How long in-flight requests (streams included) may then run before their connections are closed. */
  graceMs: number
}>

/**
 * SIGTERM handling, in the order load balancers expect: report not-ready at once but keep serving
 * for `delayMs` (they notice on their next probe and stop sending), then stop accepting
 * connections, let in-flight requests finish, and after `graceMs` close whatever is still open.
 * Resolves when the server has closed.
 */
export async function drainServer(server: Server, lifecycle: Lifecycle, times: DrainTimes, log: Logger): Promise<void> {
  lifecycle.draining = true
  if (times.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, times.delayMs))
  const graceMs = times.graceMs
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
