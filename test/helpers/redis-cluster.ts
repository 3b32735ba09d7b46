import { spawnChild } from './child-process.js'
import { stopWhenDone } from './cleanup.js'
import { freePort } from './free-port.js'
import { startRedis, type RedisServer } from './redis-server.js'
import { within } from './wait.js'

export type RedisCluster = {
  /** One `redis://127.0.0.1:<port>` per master, in slot order (the first holds slot 0). */
  readonly nodes: readonly string[]
  /** The servers themselves, same order, to freeze, kill or restart one. */
  readonly servers: readonly RedisServer[]
  stop(): Promise<void>
}

export type RedisClusterOptions = {
  masters?: number
  /** Bounds each phase (start, create, state ok). A master turns ok no sooner than 2 s after it started (Redis's rejoin delay). */
  timeoutMs?: number
}

// Short node timeout so tests of a failing node do not wait 15 s for the cluster to notice. No
// persistence: a cluster lives for one test file.
const NODE_ARGS = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']
const CLUSTER_OK = 'Cluster state changed: ok'

/**
 * A Redis Cluster of `masters` masters, no replicas, on loopback: each node a startRedis() server
 * (own port, own dir), slots spread by `redis-cli --cluster create`. Resolves once every node says
 * its cluster state is ok.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3
  const timeoutMs = options.timeoutMs ?? 15_000
  if (masters < 3) throw new Error('redis-cli --cluster create needs at least 3 masters')

  const servers: RedisServer[] = []
  const cluster: RedisCluster = {
    get nodes() {
      return servers.map((server) => server.url)
    },
    servers,
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()))
    },
  }
  stopWhenDone(() => cluster.stop()) // before anything can fail, so a half-built cluster is stopped too

  // The bus port is given (`--cluster-port`) instead of the default port + 10000, which can fall
  // outside 1-65535 or on a port in use, since the client port is any free one.
  const started = await Promise.allSettled(
    Array.from({ length: masters }, async () => {
      const server = await startRedis({ args: [...NODE_ARGS, '--cluster-port', String(await freePort())], readyTimeoutMs: timeoutMs })
      servers.push(server)
      return server
    }),
  )
  const failed = started.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  servers.sort((a, b) => a.port - b.port)

  const create = await spawnChild('redis-cli', [
    '--cluster',
    'create',
    ...servers.map((server) => `127.0.0.1:${server.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ])
  const exit = await within(create.exited, { timeoutMs, what: 'redis-cli --cluster create to finish' })
  if (exit.code !== 0) throw new Error(`redis-cli --cluster create failed (${exit.signal ?? `code ${exit.code}`}):\n${create.tail(40)}`)

  // Each node logs the change of its own view; wait for that on every one, rather than polling CLUSTER INFO.
  await Promise.all(
    servers.map((server) =>
      server.waitForLog((line) => line.includes(CLUSTER_OK), { timeoutMs, what: `cluster_state:ok on port ${server.port}` }),
    ),
  )
  return cluster
}
