import { existsSync } from 'node:fs'
import { Redis } from 'ioredis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { spawnChild } from '../helpers/child-process.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

// Proves test/helpers/redis-server.ts: a private redis-server that tests can freeze, crash and restart.

const clients: Redis[] = []
const connect = (url: string, options: { commandTimeout?: number; retryStrategy?: () => null } = {}) => {
  const client = new Redis(url, { maxRetriesPerRequest: 0, ...options })
  client.on('error', () => undefined) // expected while a server is frozen or down; each test asserts what it means
  clients.push(client)
  return client
}
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const AOF = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction']

let shared: RedisServer
beforeAll(async () => {
  shared = await startRedis() // outside a test: stopped when the file ends
})

describe('startRedis', () => {
  it('starts a private server on a loopback port, in its own dir, with the extra args', async () => {
    const started = Date.now()
    const redis = await startRedis({ args: AOF })
    console.log(`redis-server ready in ${Date.now() - started} ms`)
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`)
    const client = connect(redis.url)
    expect(await client.ping()).toBe('PONG')
    expect(await client.config('GET', 'dir')).toEqual(['dir', redis.dir])
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes'])
    expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction'])
    expect(await client.config('GET', 'bind')).toEqual(['bind', '127.0.0.1'])
  })

  it('restarts on the same port and dir; AOF data survives', async () => {
    const redis = await startRedis({ args: AOF })
    await connect(redis.url).set('survivor', 'yes')
    const before = redis.pid
    const started = Date.now()
    await redis.restart()
    console.log(`redis-server restart (SIGTERM, exit, ready) in ${Date.now() - started} ms`)
    expect(redis.pid).not.toBe(before)
    expect(alive(before)).toBe(false)
    expect(await connect(redis.url).get('survivor')).toBe('yes')
    expect(redis.logs.filter((line) => line.includes('Ready to accept connections'))).toHaveLength(2)
  })

  it('freezes: the port accepts but nothing answers until thawed', async () => {
    const redis = await startRedis()
    const client = connect(redis.url, { commandTimeout: 200 })
    await client.set('k', 'v')
    redis.freeze()
    await expect(client.get('k')).rejects.toThrow(/timed out/)
    const pending = connect(redis.url).get('k') // a new connection is accepted by the kernel, then waits
    redis.thaw()
    expect(await pending).toBe('v')
    expect(await client.get('k')).toBe('v')
  })

  it('is killed with SIGKILL (no shutdown), and restart() brings the data back from an fsynced AOF', async () => {
    const redis = await startRedis({ args: AOF })
    const client = connect(redis.url, { retryStrategy: () => null })
    await client.set('fsynced', '1')
    const closed = new Promise((resolve) => client.once('end', resolve))
    const pid = redis.pid
    await redis.kill()
    await closed
    expect(alive(pid)).toBe(false)
    expect(redis.logs.join('\n')).not.toContain('ready to exit') // no orderly shutdown happened
    await redis.restart()
    expect(await connect(redis.url).get('fsynced')).toBe('1')
  })

  it('stops a frozen server (thawing it first) and removes its dir', async () => {
    const redis = await startRedis()
    redis.freeze()
    await redis.stop()
    expect(alive(redis.pid)).toBe(false)
    expect(existsSync(redis.dir)).toBe(false)
    expect(redis.logs.join('\n')).toContain('ready to exit') // SIGTERM was acted on: it was thawed
    await redis.stop() // idempotent
  })
})

describe('cleanup', () => {
  let leftRunning: number | undefined
  it('leaves a server running to the end of the test that started it', async () => {
    const redis = await startRedis()
    leftRunning = redis.pid
    redis.freeze() // even a frozen one gets stopped
  })

  it('has stopped it once that test finished', () => {
    expect(leftRunning).toBeDefined()
    expect(alive(leftRunning as number)).toBe(false)
  })

  it('keeps a server started in beforeAll across tests', async () => {
    expect(alive(shared.pid)).toBe(true)
    expect(await connect(shared.url).ping()).toBe('PONG')
  })

  it('fails with a clear message when a binary is missing', async () => {
    await expect(spawnChild('redis-server-not-installed', [])).rejects.toThrow(/cannot start redis-server-not-installed \(ENOENT\)/)
  })
})
