// Group `replicas`: gateways sharing one private redis-server, with a day budget on the bench key
// (every request reserves and settles in Redis) and the cache on. Unique text, 32 connections
// spread evenly over the replicas, one autocannon per replica running at the same time.
// First one replica on the in-memory store against one on Redis (taking turns), then 2 and 4 on Redis.
// Then the per-request costs of the capacity plan: one replica on Redis, temperature-0 requests whose
// answers (about 1 KB or 32 KB, padded by the backend) the cache stores (misses) or serves (hits).
import { Redis } from 'ioredis'
import { bodies } from '../lib/bodies.mjs'
import { CONNECTIONS, load, median, mergeStatuses, quantile, warmUp } from '../lib/measure.mjs'
import { KEY, sleep, startGateway, startRedis } from '../lib/processes.mjs'

const REPEATS = 2
/** Generous: never reached, but every request still reserves its tokens and settles them. */
export const REPLICA_BUDGETS = [{ window: 'day', tokens: 1_000_000_000_000 }]

/** The capacity plan's measurements; `answerBytes` is the assistant content the backend sends. */
export const COST_SCENARIOS = [
  { id: 'miss1k', name: 'cache miss, ~1 KB answer stored', answerBytes: 1024, hit: false },
  { id: 'miss32k', name: 'cache miss, ~32 KB answer stored', answerBytes: 32 * 1024, hit: false },
  { id: 'hit1k', name: 'cache hit, ~1 KB answer', answerBytes: 1024, hit: true },
  { id: 'hit32k', name: 'cache hit, ~32 KB answer', answerBytes: 32 * 1024, hit: true },
]
/** Distinct cached requests the hit scenarios take turns over: concurrent hits never share a flight. */
const HIT_POOL = 1_000
/** Pause after a load before reading the counters: time for the last requests to finish. */
const SETTLE_MS = 300

const INFO_SECTIONS = ['commandstats', 'cpu', 'stats', 'memory', 'keyspace']
const resp = (args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`
/** What our own INFO costs on the wire, to take out of the totals: the command in, the reply out. */
const INFO_COMMAND_BYTES = Buffer.byteLength(resp(['info', ...INFO_SECTIONS]))
const bulkBytes = (text) => Buffer.byteLength(`$${Buffer.byteLength(text)}\r\n\r\n`) + Buffer.byteLength(text)

/**
 * One INFO: calls per command (INFO commandstats, commands run inside scripts included), CPU
 * seconds, network bytes in and out, memory in use and keys.
 */
async function redisCounters(redis) {
  const info = await redis.call('info', ...INFO_SECTIONS)
  const calls = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2])
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
  return {
    calls,
    cpuSeconds: field('used_cpu_sys') + field('used_cpu_user'),
    netIn: field('total_net_input_bytes'),
    netOut: field('total_net_output_bytes'),
    usedMemory: field('used_memory'),
    keys: Number(/^db0:keys=(\d+)/m.exec(info)?.[1] ?? 0),
    // Counted in total_net_output_bytes only once written, so by the next reading.
    replyBytes: bulkBytes(info),
  }
}

/**
 * Counters from the replicas' /metrics, summed: chat requests handled (whatever their status, a
 * client gone included), Redis round trips by step and operation, cache lookups by result, and
 * budget checks the store could not answer by outcome.
 */
async function gatewayCounters(replicas) {
  const names = { store_round_trips: 'roundTrips', cache_lookups: 'cacheLookups', budget_store_failures: 'storeFailures' }
  const out = { requests: 0, roundTrips: {}, cacheLookups: {}, storeFailures: {} }
  for (const r of replicas) {
    const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text()
    for (const m of text.matchAll(/^llava_gateway_requests_total\{[^}]*\} (\S+)$/gm)) out.requests += Number(m[1])
    for (const m of text.matchAll(/^llava_gateway_(store_round_trips|cache_lookups|budget_store_failures)_total\{([^}]*)\} (\S+)$/gm)) {
      const counter = out[names[m[1]]]
      const label = [...m[2].matchAll(/="([^"]*)"/g)].map((l) => l[1]).join(' ')
      counter[label] = (counter[label] ?? 0) + Number(m[3])
    }
  }
  return out
}

/** after - before, per name, leaving out names that did not change. */
function delta(after, before) {
  const out = {}
  for (const [name, n] of Object.entries(after)) if (n - (before[name] ?? 0) !== 0) out[name] = n - (before[name] ?? 0)
  return out
}
const sum = (values) => Object.values(values).reduce((a, b) => a + b, 0)

/** All replicas loaded at once, the connections split evenly; aggregate figures. */
async function loadReplicas(replicas, body, redis) {
  const before = redis ? await redisCounters(redis) : undefined
  const gatewayBefore = await gatewayCounters(replicas)
  const results = await Promise.all(
    replicas.map((r) => load({ port: r.port, pids: [r.pid], body, connections: CONNECTIONS / replicas.length, raw: true })),
  )
  // The requests still in flight when the load stopped finish (and settle) before the second reading.
  await sleep(SETTLE_MS)
  const gatewayAfter = await gatewayCounters(replicas)
  const after = redis ? await redisCounters(redis) : undefined
  const answers = results.reduce((n, r) => n + r.answers, 0)
  const latencies = results.flatMap((r) => r.latencies)
  const lookups = delta(gatewayAfter.cacheLookups, gatewayBefore.cacheLookups)
  const row = {
    rps: results.reduce((n, r) => n + r.rps, 0),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerReq: results.reduce((n, r) => n + r.cpuMs, 0) / answers,
    errors: results.reduce((n, r) => n + r.errors, 0),
    statuses: mergeStatuses(results.map((r) => r.statuses)),
    // Share of cache lookups that were hits (a failed read or write counts as a lookup); NaN when the cache was bypassed.
    hitRatio: (lookups.hit ?? 0) / ((lookups.hit ?? 0) + (lookups.miss ?? 0) + (lookups.error ?? 0)),
  }
  if (redis) {
    // Per request the gateway handled: those answered, and those the load stopped in the middle of.
    const handled = gatewayAfter.requests - gatewayBefore.requests || answers
    row.handled = handled
    const perCommand = {}
    for (const [name, calls] of Object.entries(after.calls)) perCommand[name] = (calls - (before.calls[name] ?? 0)) / handled
    delete perCommand.info // the bench's own INFO calls (the gateway sends INFO only at start)
    row.redisCommandsPerReq = Object.values(perCommand).reduce((a, b) => a + b, 0)
    row.redisCpuPerReq = ((after.cpuSeconds - before.cpuSeconds) * 1000) / handled
    row.redisInPerReq = (after.netIn - before.netIn - INFO_COMMAND_BYTES) / handled
    row.redisOutPerReq = (after.netOut - before.netOut - before.replyBytes) / handled
    const roundTrips = delta(gatewayAfter.roundTrips, gatewayBefore.roundTrips)
    row.roundTripsPerReq = sum(roundTrips) / handled
    row.roundTrips = Object.fromEntries(Object.entries(roundTrips).map(([name, n]) => [name, n / handled]))
    // Redis memory per key added: a stored cache entry, when the run stored one per request.
    const keys = after.keys - before.keys
    row.keysPerReq = keys / handled
    row.memoryPerKey = keys > 0 ? (after.usedMemory - before.usedMemory) / keys : NaN
    row.perCommand = perCommand
  }
  return row
}

/** Field-wise medians; errors summed, statuses merged, perCommand and roundTrips from the first repeat. */
function medianRows(rows) {
  const out = { ...rows[0] }
  for (const field of Object.keys(rows[0])) if (typeof rows[0][field] === 'number') out[field] = median(rows.map((r) => r[field]))
  out.errors = rows.reduce((n, r) => n + r.errors, 0)
  out.statuses = mergeStatuses(rows.map((r) => r.statuses))
  return out
}

const CHAT_URL = (gw) => `http://127.0.0.1:${gw.port}/v1/chat/completions`

/**
 * One request, its answer read whole. A 503 (the budget store slow to answer on this busy machine)
 * is tried again, up to five times; any other failure throws.
 */
async function send(gw, body) {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(CHAT_URL(gw), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body,
    })
    const text = await res.text()
    if (res.status === 200) return { res, text }
    if (res.status !== 503 || attempt === 5) throw new Error(`request answered ${res.status}: ${text.slice(0, 200)}`)
    await sleep(100)
  }
}

/**
 * One request: the answer's size in bytes (the whole JSON, and its assistant content) and its
 * X-Cache. Throws when a padded answer comes back short: the gateway did not forward bench_answer_bytes.
 */
async function answerOf(gw, body, answerBytes) {
  const { res, text } = await send(gw, body)
  const contentBytes = Buffer.byteLength(JSON.parse(text).choices[0].message.content)
  if (answerBytes && contentBytes < answerBytes) {
    throw new Error(`asked the backend for ${answerBytes} bytes, got ${contentBytes}: bench_answer_bytes not forwarded`)
  }
  return { bytes: Buffer.byteLength(text), contentBytes, xCache: res.headers.get('x-cache') }
}

/** Every body once, 16 at a time: the hit scenarios' entries are stored before they are measured. */
async function prefill(gw, all) {
  let next = 0
  const worker = async () => {
    while (next < all.length) await send(gw, all[next++])
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}

/** Each cache key (entries, and any lock) in Redis, one SCAN page at a time. */
async function forEachCacheKey(redis, onPage) {
  let cursor = '0'
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', 'llava-gateway:cache:*', 'COUNT', 1000)
    if (keys.length) await onPage(keys)
    cursor = nextCursor
  } while (cursor !== '0')
}

/** Cache entries out of Redis, so each scenario starts from the budget keys alone. */
const dropCacheEntries = (redis) => forEachCacheKey(redis, (keys) => redis.unlink(...keys))

async function countCacheEntries(redis) {
  let n = 0
  await forEachCacheKey(redis, (keys) => (n += keys.length))
  return n
}

/**
 * The hit pool stored: a store write Redis did not answer in time is dropped by the gateway (the
 * answer is served, not kept), so the pool is sent again until every entry is there.
 */
async function storePool(gw, redis, all) {
  for (let pass = 1; pass <= 5; pass++) {
    await prefill(gw, all)
    await sleep(SETTLE_MS)
    if ((await countCacheEntries(redis)) >= all.length) return
  }
  throw new Error(`hit pool: ${await countCacheEntries(redis)} of ${all.length} entries stored after five passes`)
}

/** The capacity plan's per-request costs: one replica on Redis, each scenario in turn, medians of REPEATS. */
async function runCosts(start, redisServer, redis) {
  const [gw] = await start(1, redisServer.url)
  const rows = []
  try {
    for (const scenario of COST_SCENARIOS) {
      await dropCacheEntries(redis)
      const body = scenario.hit ? bodies.cachedPool(scenario.answerBytes, HIT_POOL) : bodies.cachedMiss(scenario.answerBytes)
      if (scenario.hit) await storePool(gw, redis, body.all)
      const answer = await answerOf(gw, body.sample, scenario.answerBytes)
      const expected = scenario.hit ? 'HIT' : 'MISS'
      if (answer.xCache !== expected) throw new Error(`${scenario.name}: sample request was a cache ${answer.xCache}, not ${expected}`)
      await warmUp(gw, body)
      const repeats = []
      for (let r = 0; r < REPEATS; r++) repeats.push(await loadReplicas([gw], body, redis))
      rows.push({ ...scenario, answer, ...medianRows(repeats), storeFailures: (await gatewayCounters([gw])).storeFailures })
    }
  } finally {
    await gw.stop()
    await dropCacheEntries(redis)
  }
  return rows
}

const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')
const costLine = (row) =>
  `${f(row.rps, 0)} req/s, p99 ${f(row.p99)} ms, gateway ${f(row.cpuPerReq, 3)} ms CPU/req` +
  (row.redisCommandsPerReq === undefined
    ? ''
    : `; Redis ${f(row.redisCommandsPerReq)} cmds, ${f(row.roundTripsPerReq)} round trips, ` +
      `${f(row.redisInPerReq, 0)} B in / ${f(row.redisOutPerReq, 0)} B out, ${f(row.redisCpuPerReq, 3)} ms CPU per req`)

/**
 * The replica rows (`scaling`) and the capacity plan's per-request costs (`costs`: plain text with
 * the cache bypassed, from the one-replica Redis row, then COST_SCENARIOS).
 */
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
    const failures = [(await gatewayCounters([memory])).storeFailures, (await gatewayCounters([onRedis])).storeFailures]
    const textAnswer = await answerOf(onRedis, body.sample)
    await Promise.all([memory.stop(), onRedis.stop()])
    rows.push({ replicas: 1, store: 'in-memory', ...medianRows(runs.memory), storeFailures: failures[0] })
    rows.push({ replicas: 1, store: 'redis', ...medianRows(runs.redis), storeFailures: failures[1] })
    for (const n of [2, 4]) {
      const replicas = await start(n, redisServer.url)
      for (const gw of replicas) await warmUp(gw, body)
      const repeats = []
      for (let r = 0; r < REPEATS; r++) repeats.push(await loadReplicas(replicas, body, redis))
      const failures = (await gatewayCounters(replicas)).storeFailures
      await Promise.all(replicas.map((gw) => gw.stop()))
      rows.push({ replicas: n, store: 'redis', ...medianRows(repeats), storeFailures: failures })
    }
    for (const row of rows) console.log(`replicas ${row.replicas} ${row.store}: ${costLine(row)}`)
    const text = { id: 'text', name: 'text, cache bypassed (default answer)', hit: false, answer: textAnswer, ...rows[1] }
    const costs = [text, ...(await runCosts(start, redisServer, redis))]
    for (const row of costs.slice(1))
      console.log(`${row.name} (${row.answer.bytes} B answer): ${costLine(row)}, hit ratio ${f(row.hitRatio)}`)
    return { scaling: rows, costs }
  } finally {
    redis.disconnect()
    await redisServer.stop()
  }
}
