import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import type { Config } from '../../src/config/schema.js'
import type { AppEnv } from '../../src/env.js'
import { withDirectBodies } from '../../src/lib/direct-body.js'
import { limitConnections, serverOptions } from '../../src/server/limits.js'

/** Serves an app on 127.0.0.1, port 0, the way main.ts does, for tests that need real sockets. */
export async function listen(
  app: Hono<AppEnv>,
  limits?: Config['server'],
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = serve({
    fetch: withDirectBodies(app.fetch),
    hostname: '127.0.0.1',
    port: 0,
    ...(limits ? { serverOptions: serverOptions(limits) } : {}),
  }) as Server
  if (limits) limitConnections(server, limits)
  if (!server.listening) await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
