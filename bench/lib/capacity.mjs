// The capacity plan in BENCHMARKS.md: the per-request costs the replicas group measured (one gateway
// replica on one redis-server), then what 1k, 10k and 100k req/s would need, worked out from them
// with the assumptions in PLAN. Only the first table is measured; the rest is arithmetic.
import { SECONDS } from './measure.mjs'

export const PLAN = {
  rates: [1_000, 10_000, 100_000],
  /** Share of requests answered from the cache, for the workloads that use it. */
  hitRatios: [0, 0.5],
  /** Every resource is planned to run at this share of its capacity at most. */
  utilisation: 0.6,
  /** Node runs one event loop: a replica uses about one core. */
  coresPerReplica: 1,
  /** One Redis shard: one core (Redis runs commands on one thread), its network link and memory. */
  shard: { cores: 1, linkGbit: 10, memoryGB: 32 },
  /** cache.ttlSeconds, the gateway's default: how long a stored answer stays in Redis. */
  ttlSeconds: 3_600,
}

const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')
/** A projected figure to about three significant digits, with thousands separators. */
const num = (n) => {
  if (!Number.isFinite(n)) return '-'
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2
  return n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
const kb = (bytes) => `${num(bytes / 1000)} KB`
const pct = (ratio) => `${Math.round(ratio * 100)}%`

/**
 * The workloads planned for: plain text (cache bypassed), then for each answer size each hit
 * ratio, a hit costing what the hit row measured and a miss what the miss row measured.
 */
function workloads(costs) {
  const by = Object.fromEntries(costs.map((c) => [c.id, c]))
  const list = []
  if (by.text) list.push({ name: 'text, cache bypassed', parts: [[by.text, 1]], storedPerReq: 0, entryBytes: 0 })
  for (const [size, miss, hit] of [
    ['~1 KB', by.miss1k, by.hit1k],
    ['~32 KB', by.miss32k, by.hit32k],
  ]) {
    if (!miss || !hit) continue
    for (const h of PLAN.hitRatios) {
      list.push({
        name: `${size} answers, ${pct(h)} hits`,
        parts: h
          ? [
              [miss, 1 - h],
              [hit, h],
            ]
          : [[miss, 1]],
        // Each miss stores one new entry (the measured keys per miss are about 1).
        storedPerReq: 1 - h,
        entryBytes: miss.memoryPerKey,
      })
    }
  }
  return list.map((w) => {
    const mix = (field) => w.parts.reduce((total, [row, share]) => total + share * row[field], 0)
    return {
      ...w,
      gatewayCpu: mix('cpuPerReq'),
      redisCpu: mix('redisCpuPerReq'),
      redisIn: mix('redisInPerReq'),
      redisOut: mix('redisOutPerReq'),
      /** Bytes of Redis memory a request adds for the TTL: the cache entries it stores. */
      memoryPerReq: w.storedPerReq ? w.storedPerReq * w.entryBytes : 0,
    }
  })
}

/** What `rate` req/s of workload `w` needs. */
function project(w, rate) {
  const u = PLAN.utilisation
  const gatewayCores = (rate * w.gatewayCpu) / 1000
  const redisCores = (rate * w.redisCpu) / 1000
  const inBytes = rate * w.redisIn
  const outBytes = rate * w.redisOut
  const memoryBytes = rate * PLAN.ttlSeconds * w.memoryPerReq
  const shardsBy = {
    CPU: redisCores / (PLAN.shard.cores * u),
    network: (Math.max(inBytes, outBytes) * 8) / 1e9 / (PLAN.shard.linkGbit * u),
    memory: memoryBytes / 1e9 / (PLAN.shard.memoryGB * u),
  }
  const [boundBy, shards] = Object.entries(shardsBy).reduce((a, b) => (b[1] > a[1] ? b : a))
  return {
    gatewayCores,
    replicas: Math.ceil(gatewayCores / (PLAN.coresPerReplica * u)),
    redisCores,
    inBytes,
    outBytes,
    memoryBytes,
    shardsBy,
    shards: Math.max(1, Math.ceil(shards)),
    boundBy,
  }
}

/** Requests per second one unit carries at the target utilisation. */
function ceilings(w) {
  const u = PLAN.utilisation
  const redis = {
    CPU: (PLAN.shard.cores * u * 1000) / w.redisCpu,
    network: (((PLAN.shard.linkGbit * 1e9) / 8) * u) / Math.max(w.redisIn, w.redisOut),
    memory: w.memoryPerReq ? (PLAN.shard.memoryGB * 1e9 * u) / (PLAN.ttlSeconds * w.memoryPerReq) : Infinity,
  }
  const [first, shard] = Object.entries(redis).reduce((a, b) => (b[1] < a[1] ? b : a))
  return { replica: (PLAN.coresPerReplica * u * 1000) / w.gatewayCpu, redis, first, shard }
}

function measuredTable(costs) {
  return [
    '| request | answer bytes | req/s here | gateway CPU ms/req | Redis commands/req | Redis round trips/req | Redis bytes in / out per req | Redis CPU ms/req | Redis memory per stored entry | cache hits |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...costs.map(
      (c) =>
        `| ${c.name} | ${c.answer.bytes.toLocaleString('en')} | ${f(c.rps, 0)} | ${f(c.cpuPerReq, 3)} | ${f(c.redisCommandsPerReq, 1)} | ${f(c.roundTripsPerReq)} | ${f(c.redisInPerReq, 0)} / ${f(c.redisOutPerReq, 0)} | ${f(c.redisCpuPerReq, 3)} | ${c.keysPerReq > 0.5 ? `${f(c.memoryPerKey, 0)} B` : '-'} | ${Number.isFinite(c.hitRatio) ? pct(c.hitRatio) : 'bypassed'} |`,
    ),
  ]
}

function projectionTable(list) {
  const rows = []
  for (const w of list) {
    for (const rate of PLAN.rates) {
      const p = project(w, rate)
      const shardsBy = Object.entries(p.shardsBy)
        .map(([name, n]) => `${name} ${num(n)}`)
        .join(', ')
      rows.push(
        `| ${w.name} | ${rate.toLocaleString('en')} | ${num(p.gatewayCores)} | **${p.replicas}** | ${num(p.redisCores)} | ${num(p.inBytes / 1e6)} / ${num(p.outBytes / 1e6)} (${num((Math.max(p.inBytes, p.outBytes) * 8) / 1e9)}) | ${num(p.memoryBytes / 1e9)} | **${p.shards}** (${shardsBy}) | ${p.boundBy} |`,
      )
    }
  }
  return [
    '| workload | req/s | gateway cores busy | gateway replicas | Redis cores busy | Redis MB/s in / out (Gbit/s, busier way) | cache memory GB | Redis shards (needed by CPU, network, memory) | shards bound by |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ]
}

function ceilingTable(list) {
  return [
    '| workload | one gateway replica, req/s | one Redis shard by CPU, req/s | by network, req/s | by memory, req/s | one shard first runs out of | replicas one shard carries |',
    '|---|---|---|---|---|---|---|',
    ...list.map((w) => {
      const c = ceilings(w)
      return `| ${w.name} | ${num(c.replica)} | ${num(c.redis.CPU)} | ${num(c.redis.network)} | ${Number.isFinite(c.redis.memory) ? num(c.redis.memory) : 'no growth'} | **${c.first}** | ${num(c.shard / c.replica)} |`
    }),
  ]
}

/** Round trips per request by step, the largest first: "budget reserve 1.00, cache lookup_or_lock 1.00". */
const roundTripList = (c) =>
  Object.entries(c.roundTrips ?? {})
    .filter(([, n]) => n >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${f(n)}`)
    .join(', ')

/** A few generated lines: replicas and shards per rate over the workloads, and what bounds the shards. */
function summary(list) {
  const range = (values) => {
    const lo = Math.min(...values)
    const hi = Math.max(...values)
    return lo === hi ? `${lo}` : `${lo}-${hi}`
  }
  const perRate = PLAN.rates.map((rate) => {
    const p = list.map((w) => project(w, rate))
    return `${rate.toLocaleString('en')} req/s: ${range(p.map((x) => x.replicas))} gateway replicas, ${range(p.map((x) => x.shards))} Redis shards`
  })
  const top = PLAN.rates.at(-1)
  const bound = {}
  for (const w of list) (bound[project(w, top).boundBy] ??= []).push(w.name)
  const ratio = list.map((w) => w.gatewayCpu / w.redisCpu)
  return [
    'In short (projected, the range over the workloads above):',
    '',
    ...perRate.map((line) => `- ${line}`),
    ...Object.entries(bound).map(
      ([by, names]) => `- Redis shards bound by ${by} at ${top.toLocaleString('en')} req/s: ${names.join('; ')}`,
    ),
    `- Gateway CPU per request is ${num(Math.min(...ratio))}-${num(Math.max(...ratio))}x Redis CPU per request`,
  ]
}

/** The ceiling table's lead: which unit runs out first, from the figures. */
function firstOut(list) {
  const lead = [
    'Which runs out first: how many req/s one unit carries at the target, per workload. The last column is how many',
    'gateway replicas one Redis shard keeps up with before its first limit (the column before it).',
  ]
  const shardFirst = list.filter((w) => {
    const c = ceilings(w)
    return c.shard < c.replica
  })
  if (shardFirst.length === 0) return [...lead, 'In every workload one gateway replica runs out before one Redis shard.']
  return [
    ...lead,
    `One Redis shard runs out before one gateway replica in: ${shardFirst.map((w) => `${w.name} (${ceilings(w).first})`).join('; ')};`,
    'in the others a gateway replica runs out first.',
  ]
}

export function capacitySection(costs) {
  const list = workloads(costs)
  const u = pct(PLAN.utilisation)
  const { shard } = PLAN
  return [
    '## Capacity plan',
    '',
    '### Measured in this run',
    '',
    'One gateway replica on one private redis-server (replicas group): a day budget on the key, so each charged request',
    `reserves and settles in Redis, and the cache on, in Redis; ${SECONDS} s per measurement, medians of two. The text row is the`,
    'one-replica Redis row above (temperature 0.7: cache bypassed). The others are temperature-0 requests, which the cache',
    'admits: a miss is a unique prompt whose answer is stored; a hit is one of 1,000 stored requests sent in turn, so',
    'concurrent hits never share a lookup. The backend pads its answer to the size asked for (`bench_answer_bytes`, an',
    'unknown parameter the gateway forwards); "answer bytes" is the JSON the client got. Hits are not charged',
    '(cache.hitsCountTowardUsage false), so they make no budget round trip. Redis figures are per request the gateway',
    'handled, from the same sources as in Replicas above; memory per stored entry is used_memory added / keys added.',
    'Gateway CPU was measured on 2 cores shared with the load generator, Redis and other work: higher than on a dedicated',
    'core, so the gateway projections are pessimistic. Redis too ran at a low rate, where each socket read carries few',
    'commands; busier, it likely spends less per request (not measured here).',
    '',
    ...measuredTable(costs),
    '',
    'Round trips per request, by step:',
    '',
    ...costs.map((c) => `- ${c.name}: ${roundTripList(c)}`),
    '',
    '### Projected from those figures',
    '',
    `Nothing was run at these rates. Assumptions: every resource planned at ${u} of its capacity; a gateway replica is`,
    `${PLAN.coresPerReplica} core (Node runs one event loop); a Redis shard is ${shard.cores} core (Redis runs commands on one thread), a`,
    `${shard.linkGbit} Gbit/s link and ${shard.memoryGB} GB of memory. Each miss stores one entry, kept for cache.ttlSeconds (${PLAN.ttlSeconds.toLocaleString('en')} s, the`,
    'default) with no eviction and no two misses alike, so the cache holds miss rate x TTL entries: an upper bound. A',
    'separate cache Redis (redis.cacheUrl) with maxmemory and allkeys-lru caps that memory instead, at the cost of hits.',
    `A mix costs the weighted mean of its miss and hit rows of the same answer size; hit ratios shown: ${PLAN.hitRatios.map(pct).join(' and ')}.`,
    '',
    'Cores busy = rate x CPU ms/req / 1000. Gateway replicas = cores busy / (cores per replica x target), rounded up.',
    'Redis shards needed = the largest of: cores busy / target; busier direction of the network / (link x target);',
    'cache memory / (shard memory x target). "Bound by" is the one that sets the count.',
    '',
    ...projectionTable(list),
    '',
    ...summary(list),
    '',
    ...firstOut(list),
    '',
    ...ceilingTable(list),
    '',
    "Sharding: cache entries spread over a Redis Cluster's shards by their digest, but a team's budget counters share one",
    "hash slot (`{team}`), so one team's budget scripts all run on one shard: shards divide the budget work only over",
    'teams. Not planned here: the bytes between the gateway and its clients and backends (about the answer size each',
    'way per request), images, streams, and Redis persistence (the bench Redis had none).',
    '',
  ]
}
