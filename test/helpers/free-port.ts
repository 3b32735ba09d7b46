import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the OS picks it (listen on 0), we release it
 * and hand the number to a process that cannot listen on 0 and report back (redis-server). Another
 * process could take it in between; callers that start servers retry on "address in use".
 */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
  return port
}
