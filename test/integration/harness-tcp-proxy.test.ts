import { once } from 'node:events'
import { connect as netConnect } from 'node:net'
import { Redis } from 'ioredis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

// Proves test/helpers/tcp-proxy.ts against a real redis-server, through ioredis.

let redis: RedisServer
beforeAll(async () => {
  redis = await startRedis()
})

const clients: Redis[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})
/** The gateway's settings that matter here: no offline queue, no per-command retries, quick reconnects. */
const connect = (url: string, options: { commandTimeout?: number; retryStrategy?: () => number | null; lazyConnect?: boolean } = {}) => {
  const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 10, ...options })
  client.on('error', () => undefined) // the faults below make errors on purpose
  clients.push(client)
  return client
}
/** An ioredis event, awaited without events.once(), which would reject on the 'error' events these faults cause. */
const next = (client: Redis, event: 'ready' | 'reconnecting') => new Promise<void>((resolve) => client.once(event, () => resolve()))
const ready = async (client: Redis) => {
  if (client.status !== 'ready') await next(client, 'ready')
  return client
}

describe('startTcpProxy', () => {
  it('forwards both ways', async () => {
    const started = Date.now()
    const proxy = await startTcpProxy({ port: redis.port })
    console.log(`tcp proxy listening in ${Date.now() - started} ms`)
    expect(proxy.url()).toBe(`redis://127.0.0.1:${proxy.port}`)
    const client = await ready(connect(proxy.url()))
    await client.set('through', 'proxy')
    expect(await client.get('through')).toBe('proxy')
    expect(proxy.accepted).toBe(1)
  })

  it('delays data in both directions', async () => {
    const proxy = await startTcpProxy({ port: redis.port })
    const client = await ready(connect(proxy.url()))
    proxy.delay(100)
    const started = performance.now()
    expect(await client.ping()).toBe('PONG')
    expect(performance.now() - started).toBeGreaterThanOrEqual(195) // 100 ms each way; timers never fire early
    proxy.delay(0)
    const again = performance.now()
    await client.ping()
    expect(performance.now() - again).toBeLessThan(195) // no longer held: faster than the delay would allow
  })

  it('pause holds a command until resume', async () => {
    const proxy = await startTcpProxy({ port: redis.port })
    const client = await ready(connect(proxy.url()))
    proxy.pause()
    let answered = false
    const pending = client.set('paused', 'later').then((reply) => {
      answered = true
      return reply
    })
    await proxy.held() // the SET sits in the proxy's buffer
    expect(await (await ready(connect(redis.url))).get('paused')).toBeNull() // asked around the proxy: Redis has not seen it
    expect(answered).toBe(false)
    proxy.resume()
    expect(await pending).toBe('OK')
  })

  it('pause makes a command with a timeout time out, like a hung server; the connection works after resume', async () => {
    const proxy = await startTcpProxy({ port: redis.port })
    const client = await ready(connect(proxy.url(), { commandTimeout: 100 }))
    proxy.pause()
    await expect(client.get('anything')).rejects.toThrow(/timed out/)
    proxy.resume()
    expect(await client.ping()).toBe('PONG')
  })

  it('cut resets current connections; ioredis reconnects through the proxy', async () => {
    const proxy = await startTcpProxy({ port: redis.port })
    const client = await ready(connect(proxy.url()))
    await client.set('before-cut', '1')
    const reconnecting = next(client, 'reconnecting')
    proxy.cut()
    await reconnecting
    await ready(client)
    expect(await client.get('before-cut')).toBe('1')
    expect(proxy.accepted).toBe(2)
  })

  it('refuse turns new connections away while current ones carry on', async () => {
    const proxy = await startTcpProxy({ port: redis.port })
    const current = await ready(connect(proxy.url()))
    proxy.refuse(true)
    const turnedAway = connect(proxy.url(), { lazyConnect: true, retryStrategy: () => null })
    await expect(turnedAway.connect()).rejects.toThrow()
    expect(await current.ping()).toBe('PONG')
    proxy.refuse(false)
    const later = await ready(connect(proxy.url()))
    expect(await later.ping()).toBe('PONG')
  })

  it('passes a FIN on only after the data before it, even when delayed', async () => {
    const proxy = await startTcpProxy({ port: redis.port })
    proxy.delay(50)
    // A raw client sends PING and its FIN at once; Redis answers, then closes. Both the FIN going
    // in and the one coming back must wait behind the data that preceded them.
    const socket = netConnect({ host: '127.0.0.1', port: proxy.port }).end('PING\r\n')
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
    await once(socket, 'end')
    expect(received).toBe('+PONG\r\n')
  })
})
