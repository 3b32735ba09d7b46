// Groups `text` and `images`: closed-loop throughput, CPU per request and latency of the gateway
// against both floors, then the same requests one at a time (latency added over the backend alone).
// Group `openloop`: a fixed arrival rate, latency added over the backend alone.
import { bodies } from '../lib/bodies.mjs'
import { RENAMED_MODEL } from '../lib/processes.mjs'
import { load, median, medianOf, openLoop, SECONDS, sequential, warmUp } from '../lib/measure.mjs'

const REPEATS = 2
const KiB = 1024
/** Content events in the stream64 scenario: a short answer, written a token at a time. */
const STREAM_TOKENS = 64
/** Clients of a scenario that measures lighter load than CONNECTIONS. */
const LIGHT_CONNECTIONS = 8

export const SCENARIOS = {
  text: [
    { id: 'text', name: 'text, unique prompt (cache bypassed)', body: bodies.text },
    { id: 'text4k', name: 'text, unique ~4 KB prompt', body: bodies.text4k },
    { id: 'text4knew', name: 'text, ~4 KB prompt of new sentences', body: bodies.text4kNew },
    { id: 'stream', name: 'stream with include_usage', body: bodies.stream, stream: true },
    {
      id: 'stream64',
      name: 'stream of 64 tokens, one event per backend write',
      body: bodies.streamTokens(STREAM_TOKENS),
      stream: true,
    },
    { id: 'cache', name: 'identical request, temperature 0 (gateway: cache hit; floors: forwarded)', body: bodies.cacheHit },
  ],
  images: [
    { id: 'image100k', name: '100 KiB image as a data URL (137 KB of base64)', body: bodies.image(100 * KiB) },
    { id: 'image1m', name: '1 MiB image as a data URL (1.4 MB of base64)', body: bodies.image(1024 * KiB) },
    // The backend knows the model by another name: the gateway writes it in front of the client's bytes.
    {
      id: 'image100krenamed',
      name: '100 KiB image as a data URL, the model renamed for the backend',
      body: bodies.image(100 * KiB, RENAMED_MODEL),
    },
    // Downloaded by the gateway from the backend's own host (a loopback address the bench config
    // allows); the floors forward the URL as text, and the backend never fetches it.
    {
      id: 'image1murl',
      name: '1 MiB image by URL, downloaded by the gateway (floors forward the URL)',
      body: bodies.imageByUrl(1024 * KiB),
    },
    // Lighter load, where V8 left to itself starts the most full collections (README "Node flags").
    {
      id: 'image100k8',
      name: '100 KiB image as a data URL, 8 connections',
      body: bodies.image(100 * KiB),
      connections: LIGHT_CONNECTIONS,
    },
  ],
}

/** A scenario of the text or images group by its id; an unknown id throws, naming the known ones. */
export function scenarioById(id) {
  const all = Object.values(SCENARIOS).flat()
  const scenario = all.find((s) => s.id === id)
  if (!scenario) throw new Error(`unknown scenario ${id}; one of ${all.map((s) => s.id).join(', ')}`)
  return scenario
}

/**
 * One scenario: warm-up, then thin, parsing, gateway, thin, parsing, gateway (each SECONDS at 32
 * connections, or the scenario's own `connections`), medians per server; the faster floor (higher
 * req/s) is the one compared against. Then 200 requests one at a time through each, and straight to
 * the backend; not for a scenario of its own `connections`, whose body a 32-connection twin sends,
 * as one at a time is the same however many connections the load had.
 */
export async function runScenario(servers, scenario) {
  const body = scenario.body(servers.upstream)
  const measured = { thin: servers.thin, parsing: servers.parsing, gateway: servers.gateway }
  for (const server of Object.values(measured)) await warmUp(server, body)
  const runs = { thin: [], parsing: [], gateway: [] }
  for (let r = 0; r < REPEATS; r++) {
    for (const [name, server] of Object.entries(measured)) {
      runs[name].push(await load({ port: server.port, pids: [server.pid], body, connections: scenario.connections }))
    }
  }
  const result = Object.fromEntries(Object.entries(runs).map(([name, list]) => [name, medianOf(list)]))
  const errors = Object.values(result).reduce((n, r) => n + r.errors, 0)
  const floor = result.thin.rps >= result.parsing.rps ? 'thin' : 'parsing'
  const row = { ...scenario, ...result, floor, errors }
  if (scenario.connections === undefined) {
    const [direct, thin, parsing, gateway] = await sequential([servers.upstream, servers.thin, servers.parsing, servers.gateway], body)
    row.unloaded = { direct, thin, parsing, gateway }
  }
  console.log(summary(row))
  return row
}

const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')
function summary(r) {
  const g = r.gateway
  const b = r[r.floor]
  return `${r.name}: ${r.floor} floor ${f(b.rps, 0)} req/s ${f(b.cpuPerReq, 3)} ms cpu; gateway ${f(g.rps, 0)} req/s ${f(g.cpuPerReq, 3)} ms cpu; ratio ${f(g.rps / b.rps)}; errors ${r.errors}`
}

/**
 * Open loops per path: three, so the median is one run's. With two, the median was their mean, and
 * one run's spike set it: the backend's own p99 once came out at 5.20 ms (0.68 ms the run before),
 * and the gateway's "added" p99 at -2.16 ms.
 */
const OPEN_LOOP_REPEATS = 3

/**
 * Open loop at `rate` req/s of unique text: straight to the backend, through each floor and through
 * the gateway, taking turns, OPEN_LOOP_REPEATS times each; medians.
 */
export async function runOpenLoop(servers, rate = 1_000) {
  const body = bodies.text()
  const order = { direct: servers.upstream, thin: servers.thin, parsing: servers.parsing, gateway: servers.gateway }
  for (const server of Object.values(order)) await openLoop({ port: server.port, body, rate, seconds: Math.min(1, SECONDS) })
  const runs = { direct: [], thin: [], parsing: [], gateway: [] }
  for (let r = 0; r < OPEN_LOOP_REPEATS; r++) {
    for (const [name, server] of Object.entries(order)) {
      runs[name].push(await openLoop({ port: server.port, pid: server.pid, body, rate }))
    }
  }
  const result = Object.fromEntries(Object.entries(runs).map(([name, list]) => [name, medianOf(list)]))
  const errors = Object.values(result).reduce((n, r) => n + r.errors, 0)
  const floor = result.thin.p99 <= result.parsing.p99 ? 'thin' : 'parsing'
  const row = { rate, ...result, floor, errors }
  console.log(
    `open loop ${rate}/s: p99 direct ${f(result.direct.p99)} ms, ${floor} ${f(result[floor].p99)} ms, gateway ${f(result.gateway.p99)} ms (achieved ${f(median(runs.gateway.map((x) => x.rate)), 0)}/s)`,
  )
  return row
}
