import { Cluster, Redis } from 'ioredis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js'

// Proves test/helpers/redis-cluster.ts: three real masters, slots spread, reachable through
// ioredis's Cluster client.

let cluster: RedisCluster
beforeAll(async () => {
  const started = Date.now()
  cluster = await startRedisCluster({ masters: 3 })
  console.log(`3-master cluster ok on every node in ${Date.now() - started} ms`)
}, 20_000)

const clients: Array<Redis | Cluster> = []
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})
const startupNodes = () =>
  cluster.nodes.map((url) => {
    const { hostname, port } = new URL(url)
    return { host: hostname, port: Number(port) }
  })
const clusterClient = (options: { enableOfflineQueue?: boolean } = {}) => {
  const client = new Cluster(startupNodes(), { ...options, redisOptions: { maxRetriesPerRequest: 0 } })
  client.on('error', () => undefined)
  clients.push(client)
  return client
}
const node = (url: string) => {
  const client = new Redis(url, { maxRetriesPerRequest: 0 })
  clients.push(client)
  return client
}
const ready = (client: Cluster) =>
  client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', () => resolve()))

describe('startRedisCluster', () => {
  it('reports cluster_state:ok on every node, slot 0 on the first, all 16384 slots covered', async () => {
    expect(cluster.nodes).toHaveLength(3)
    for (const url of cluster.nodes) expect(await node(url).cluster('INFO')).toContain('cluster_state:ok')
    const slots = await node(cluster.nodes[0]!).cluster('SLOTS')
    const owner = (slot: number) => slots.find(([from, to]) => from <= slot && slot <= to)?.[2]?.[1]
    expect(owner(0)).toBe(cluster.servers[0]!.port)
    expect(new Set(slots.map(([, , master]) => master?.[1]))).toEqual(new Set(cluster.servers.map((s) => s.port)))
    expect(slots.reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16_384)
  })

  it('stores keys on different masters through ioredis Cluster', async () => {
    const client = clusterClient()
    const keys = Array.from({ length: 30 }, (_, i) => `spread:${i}`)
    for (const key of keys) await client.set(key, key.toUpperCase())
    for (const key of keys) expect(await client.get(key)).toBe(key.toUpperCase())
    // Asked each master directly: every one holds some of them.
    const sizes = await Promise.all(cluster.nodes.map((url) => node(url).dbsize()))
    expect(sizes.every((size) => size > 0)).toBe(true)
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(keys.length)
  })

  it('runs a Lua script over two keys with one {hash tag}; keys in two slots get CROSSSLOT', async () => {
    const client = clusterClient()
    const swap = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[2]); return redis.call('MGET', KEYS[1], KEYS[2])"
    expect(await client.eval(swap, 2, '{budget:team-a}:minute', '{budget:team-a}:day', '1', '2')).toEqual(['1', '2'])
    // 'a' hashes to slot 15495 and 'b' to 3300: two masters.
    await expect(client.eval(swap, 2, 'a', 'b', '1', '2')).rejects.toThrow(/CROSSSLOT/)
  })

  it('without an offline queue, a Cluster client refuses commands until it is ready (a quirk fault tests must await)', async () => {
    const client = clusterClient({ enableOfflineQueue: false })
    await expect(client.get('early')).rejects.toThrow(/Cluster isn't ready and enableOfflineQueue options is false/)
    await ready(client)
    expect(await client.set('later', '1')).toBe('OK')
  })
})
