// Group `replicas`: gateways sharing one private redis-server, with a day budget on the bench key
// (every request reserves and settles in Redis) and the cache on. Unique text, 32 connections
// spread evenly over the replicas, one autocannon per replica running at the same time.
// First one replica on the in-memory store against one on Redis (taking turns), then 2 and 4 on Redis.
import { Redis } from 'ioredis'
import { bodies } from '../lib/bodies.mjs'
import { CONNECTIONS, load, median, mergeStatuses, quantile, warmUp } from '../lib/measure.mjs'
import { startGateway, startRedis } from '../lib/processes.mjs'

const REPEATS = 2
/** Generous: never reached, but every request still reserves its tokens and settles them. */
export const REPLICA_BUDGETS = [{ window: 'day', tokens: 1_000_000_000_000 }]

/** Calls per command (INFO commandstats, commands run inside scripts included) and CPU seconds. */
async function redisCounters(redis) {
  const stats = await redis.info('commandstats')
  const calls = {}
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2])
  const cpu = await redis.info('cpu')
  const seconds = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0)
  return { calls, cpuSeconds: seconds('used_cpu_sys') + seconds('used_cpu_user') }
}

/** Budget checks the store could not answer, by outcome, summed over the replicas (their /metrics). */
async function storeFailures(replicas) {
  const out = {}
  for (const r of replicas) {
    const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text()
    for (const m of text.matchAll(/^llava_gateway_budget_store_failures_total\{outcome="([^"]+)"\} (\d+)/gm)) {
      out[m[1]] = (out[m[1]] ?? 0) + Number(m[2])
    }
  }
  return out
}

/** All replicas loaded at once, the connections split evenly; aggregate figures. */
async function loadReplicas(replicas, body, redis) {
  const before = redis ? await redisCounters(redis) : undefined
  const results = await Promise.all(
    replicas.map((r) => load({ port: r.port, pids: [r.pid], body, connections: CONNECTIONS / replicas.length, raw: true })),
  )
  const after = redis ? await redisCounters(redis) : undefined
  const answers = results.reduce((n, r) => n + r.answers, 0)
  const latencies = results.flatMap((r) => r.latencies)
  const row = {
    rps: results.reduce((n, r) => n + r.rps, 0),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerReq: results.reduce((n, r) => n + r.cpuMs, 0) / answers,
    errors: results.reduce((n, r) => n + r.errors, 0),
    statuses: mergeStatuses(results.map((r) => r.statuses)),
  }
  if (redis) {
    const perCommand = {}
    for (const [name, calls] of Object.entries(after.calls)) perCommand[name] = (calls - (before.calls[name] ?? 0)) / answers
    delete perCommand.info // the bench's own INFO calls (the gateway sends INFO only at start)
    row.redisCommandsPerReq = Object.values(perCommand).reduce((a, b) => a + b, 0)
    row.redisCpuPerReq = ((after.cpuSeconds - before.cpuSeconds) * 1000) / answers
    row.perCommand = perCommand
  }
  return row
}

/** Field-wise medians; errors summed, statuses merged, perCommand from the first repeat. */
function medianRows(rows) {
  const out = { ...rows[0] }
  for (const field of Object.keys(rows[0])) if (typeof rows[0][field] === 'number') out[field] = median(rows.map((r) => r[field]))
  out.errors = rows.reduce((n, r) => n + r.errors, 0)
  out.statuses = mergeStatuses(rows.map((r) => r.statuses))
  return out
}

export async function runReplicas(servers) {
  const redisServer = await startRedis()
  const redis = new Redis(redisServer.url, { lazyConnect: false })
  const upstreamPort = servers.upstream.port
  const body = bodies.text()
  const start = (n, redisUrl) =>
    Promise.all(
      Array.from({ length: n }, () => startGateway({ upstreamPort, budgets: REPLICA_BUDGETS, ...(redisUrl ? { redisUrl } : {}) })),
    )
  const rows = []
  try {
    // One replica: in-memory store against Redis, taking turns.
    const [memory] = await start(1)
    const [onRedis] = await start(1, redisServer.url)
    for (const gw of [memory, onRedis]) await warmUp(gw, body)
    const runs = { memory: [], redis: [] }
    for (let r = 0; r < REPEATS; r++) {
      runs.memory.push(await loadReplicas([memory], body))
      runs.redis.push(await loadReplicas([onRedis], body, redis))
    }
    const failures = [await storeFailures([memory]), await storeFailures([onRedis])]
    await Promise.all([memory.stop(), onRedis.stop()])
    rows.push({ replicas: 1, store: 'in-memory', ...medianRows(runs.memory), storeFailures: failures[0] })
    rows.push({ replicas: 1, store: 'redis', ...medianRows(runs.redis), storeFailures: failures[1] })
    for (const n of [2, 4]) {
      const replicas = await start(n, redisServer.url)
      for (const gw of replicas) await warmUp(gw, body)
      const repeats = []
      for (let r = 0; r < REPEATS; r++) repeats.push(await loadReplicas(replicas, body, redis))
      const failures = await storeFailures(replicas)
      await Promise.all(replicas.map((gw) => gw.stop()))
      rows.push({ replicas: n, store: 'redis', ...medianRows(repeats), storeFailures: failures })
    }
    for (const row of rows) {
      console.log(
        `replicas ${row.replicas} ${row.store}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99.toFixed(2)} ms` +
          (row.redisCommandsPerReq === undefined ? '' : `, ${row.redisCommandsPerReq.toFixed(2)} redis cmds/req`),
      )
    }
    return rows
  } finally {
    redis.disconnect()
    await redisServer.stop()
  }
}
