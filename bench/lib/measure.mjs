// The measurements: closed-loop load (autocannon) with the server's CPU per request, one request at
// a time (latency and time to first byte), and open-loop load at a fixed arrival rate (undici).
import autocannon from 'autocannon'
import { Client, Pool } from 'undici'
import { KEY, cpuMs, sleep } from './processes.mjs'

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
export const CONNECTIONS = 32
const WARMUP_SECONDS = Math.min(1, SECONDS)
const CHAT_PATH = '/v1/chat/completions'
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }

/** Value at quantile q (0..1) of numbers, nearest rank; NaN when empty. */
export function quantile(values, q) {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Median of a few repeats (the mean of the middle two when even). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Field-wise medians of repeated load() results; errors are summed and statuses merged instead. */
export function medianOf(results) {
  const out = {}
  for (const field of Object.keys(results[0])) {
    if (typeof results[0][field] === 'number') out[field] = median(results.map((r) => r[field]))
  }
  out.errors = results.reduce((n, r) => n + (r.errors ?? 0), 0)
  out.statuses = mergeStatuses(results.map((r) => r.statuses ?? {}))
  return out
}

/** { '503': 4 } + { '503': 1, '429': 2 } = { '503': 5, '429': 2 } */
export function mergeStatuses(list) {
  const out = {}
  for (const statuses of list) for (const [code, n] of Object.entries(statuses)) out[code] = (out[code] ?? 0) + n
  return out
}

/** Answers other than 2xx, e.g. "503: 2, failed: 1"; "0" when none. */
export const statusText = (statuses = {}) =>
  Object.entries(statuses)
    .map(([code, n]) => `${code}: ${n}`)
    .join(', ') || '0'

/**
 * Closed-loop load on one server: `connections` clients each send the next body as soon as the
 * last answer is in, for `seconds`. The server's CPU (user + system, every thread, from
 * /proc/<pid>/stat) is read before and after, and divided by the answers received.
 * `pids` may list several processes (replicas): their CPU is summed. With `raw`, the latencies
 * themselves come back too (to merge several concurrent runs). `headers` go with every request,
 * besides the key (a peer gateway routes by them).
 */
export function load({ port, pids = [], body, connections = CONNECTIONS, seconds = SECONDS, raw = false, headers = {} }) {
  const latencies = []
  const before = pids.map(cpuMs)
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}${CHAT_PATH}`,
        connections,
        duration: seconds,
        requests: [{ method: 'POST', headers: { ...HEADERS, ...headers }, setupRequest: (req) => ({ ...req, body: body.next() }) }],
      },
      (err, result) => {
        if (err) return reject(err)
        const cpu = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - before[i], 0)
        const answers = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx']
        resolve({
          rps: result['2xx'] / result.duration,
          p50: quantile(latencies, 0.5),
          p99: quantile(latencies, 0.99),
          cpuPerReq: answers ? cpu / answers : NaN,
          ok: result['2xx'],
          errors: result.non2xx + result.errors + result.timeouts,
          non2xx: result.non2xx,
          // Answers other than 2xx by status; failed connections and timeouts under "failed".
          statuses: {
            ...Object.fromEntries(
              Object.entries(result.statusCodeStats)
                .filter(([code]) => !code.startsWith('2'))
                .map(([code, v]) => [code, v.count]),
            ),
            ...(result.errors + result.timeouts ? { failed: result.errors + result.timeouts } : {}),
          },
          cpuMs: cpu,
          answers,
          ...(raw ? { latencies } : {}),
        })
      },
    )
    // Our own record of 2xx latencies, as floats: autocannon's histogram keeps whole milliseconds.
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms)
    })
  })
}

/** A short run at full load before measuring: JIT, pools, the cache entry. */
export const warmUp = (target, body) => load({ port: target.port, body, seconds: WARMUP_SECONDS, headers: target.headers })

/** Rounds of the server's steady-state warm-up, and seconds per body in each. */
const STEADY_ROUNDS = 2
const STEADY_SECONDS_PER_BODY = 2

/**
 * Brings a server to the state it runs in for days: every body it will be measured with, in turn,
 * at full load, twice over. A server of many functions is far from its steady cost after a few
 * seconds: V8 compiles each path only once it is hot, on the one core the load generator leaves
 * it. Three runs of the text scenario in a row, after 3 s of text at the start, gave the gateway
 * 0.391, 0.309 and 0.260 ms of CPU a request, and 0.27, 0.42 and 0.45 of the thin floor's
 * throughput; the floors, a few functions each, were at their steady cost from the start. Every
 * server, the floors and peers included, gets the same warm-up.
 */
export async function warmToSteadyState(target, bodyMakers) {
  for (let round = 0; round < STEADY_ROUNDS; round++) {
    for (const makeBody of bodyMakers) {
      await load({ port: target.port, body: makeBody(), seconds: Math.min(STEADY_SECONDS_PER_BODY, SECONDS), headers: target.headers })
    }
  }
}

/**
 * One request at a time, `rounds` times per target, the targets taking turns request by request so
 * that drift (other work on the machine) falls on all alike. Per target: total latency p50/p99 and
 * time to the first body byte p50/p99, in ms.
 */
export async function sequential(targets, body, rounds = 200) {
  const clients = targets.map((t) => new Client(`http://127.0.0.1:${t.port}`, { keepAliveTimeout: 60_000 }))
  const samples = targets.map(() => ({ total: [], ttfb: [] }))
  const one = async (client, sample, record) => {
    const start = performance.now()
    const { statusCode, body: answer } = await client.request({ method: 'POST', path: CHAT_PATH, headers: HEADERS, body: body.next() })
    let first
    for await (const _chunk of answer) first ??= performance.now()
    const end = performance.now()
    if (statusCode !== 200) throw new Error(`unloaded request answered ${statusCode}`)
    if (record) {
      sample.total.push(end - start)
      sample.ttfb.push((first ?? end) - start)
    }
  }
  try {
    for (let i = 0; i < rounds + 20; i++) {
      // The first 20 rounds warm the connections and are not recorded.
      for (let t = 0; t < targets.length; t++) await one(clients[t], samples[t], i >= 20)
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
  }
  return samples.map((s) => ({
    p50: quantile(s.total, 0.5),
    p99: quantile(s.total, 0.99),
    ttfb50: quantile(s.ttfb, 0.5),
    ttfb99: quantile(s.ttfb, 0.99),
  }))
}

/**
 * Open loop: requests start at a fixed rate whether or not earlier ones have been answered (a slow
 * server gets a queue, as it would from real clients), for `seconds`. Latency is from each
 * request's start to its last byte. Undici pool of 128 connections, so the client does not queue.
 */
export async function openLoop({ port, pid, body, rate, seconds = SECONDS }) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 128, keepAliveTimeout: 60_000 })
  const latencies = []
  let errors = 0
  const statuses = {}
  const inFlight = new Set()
  const send = () => {
    const start = performance.now()
    const p = pool
      .request({ method: 'POST', path: CHAT_PATH, headers: HEADERS, body: body.next() })
      .then(async ({ statusCode, body: answer }) => {
        for await (const _chunk of answer); // read to the last byte
        if (statusCode === 200) return latencies.push(performance.now() - start)
        errors++
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
      })
      .catch(() => {
        errors++
        statuses.failed = (statuses.failed ?? 0) + 1
      })
      .finally(() => inFlight.delete(p))
    inFlight.add(p)
  }
  const total = Math.round(rate * seconds)
  const cpuBefore = pid ? cpuMs(pid) : 0
  const begin = performance.now()
  let sent = 0
  while (sent < total) {
    // Every request whose start time has come is started now; timers tick about every millisecond.
    const due = Math.min(total, Math.floor(((performance.now() - begin) * rate) / 1000) + 1)
    while (sent < due) {
      send()
      sent++
    }
    await sleep(1)
  }
  const sendSeconds = (performance.now() - begin) / 1000
  await Promise.all(inFlight)
  const cpu = pid ? cpuMs(pid) - cpuBefore : NaN
  await pool.close()
  return {
    rate: sent / sendSeconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerReq: cpu / sent,
    errors,
    statuses,
  }
}

/**
 * `count` requests sent at once, each on its own connection, and waited for: how long until all
 * were answered, and the answers by status.
 */
export async function burst({ port, body, count }) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: count, headersTimeout: 120_000, bodyTimeout: 120_000 })
  const start = performance.now()
  const statuses = {}
  const latencies = []
  await Promise.all(
    Array.from({ length: count }, async () => {
      let status = 'failed'
      try {
        const answer = await pool.request({ method: 'POST', path: CHAT_PATH, headers: HEADERS, body: body.next() })
        for await (const _chunk of answer.body); // read to the last byte
        status = answer.statusCode
        latencies.push(performance.now() - start)
      } catch {
        // counted as failed
      }
      statuses[status] = (statuses[status] ?? 0) + 1
    }),
  )
  await pool.close()
  return { seconds: (performance.now() - start) / 1000, statuses, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) }
}
