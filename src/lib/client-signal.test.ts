import { once } from 'node:events'
import { createServer, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ClientGone } from './client-signal.js'

const servers: Array<ReturnType<typeof createServer>> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

/** A real server: the Node response of one request a client sends, and that client's request. */
async function exchange() {
  const server = createServer()
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = request({ port: (server.address() as AddressInfo).port, method: 'POST' })
  client.on('error', () => undefined)
  client.end('{}')
  const [, response] = (await once(server, 'request')) as [unknown, ServerResponse]
  return { response, client }
}

describe('ClientGone', () => {
  it('aborts once when the client leaves before the response is finished', async () => {
    const { response, client } = await exchange()
    const gone = new ClientGone(response)
    const heard: string[] = []
    gone.addEventListener('abort', () => heard.push('once'), { once: true })
    const removed = () => heard.push('removed')
    gone.addEventListener('abort', removed)
    gone.removeEventListener('abort', removed)
    gone.on('abort', () => heard.push('emitter'))
    expect(gone.aborted).toBe(false)
    client.destroy()
    await once(response, 'close')
    expect(gone.aborted).toBe(true)
    expect(heard).toEqual(['once', 'emitter'])
  })

  it('does not abort when the response was finished before the connection closed', async () => {
    const { response, client } = await exchange()
    const gone = new ClientGone(response)
    const closed = once(response, 'close') // a response closes once finished, as well as when its client leaves
    response.end('done')
    await once(response, 'finish')
    client.destroy()
    await closed
    expect(gone.aborted).toBe(false)
  })

  it('is aborted from the start for a response the client already left', async () => {
    const { response, client } = await exchange()
    client.destroy()
    await once(response, 'close')
    expect(new ClientGone(response).aborted).toBe(true)
  })
})
