// Group `noisy`: a small client's latency while eight others send the largest bodies the gateway
// accepts, next to the same client's latency with nobody else around; and the gateway's memory.
import { Client } from 'undici'
import { bodies } from '../lib/bodies.mjs'
import { quantile, SECONDS } from '../lib/measure.mjs'
import { cpuMs, forkServer, KEY, mainThreadSchedule, memoryMiB, scheduleShares, sleep, startGateway } from '../lib/processes.mjs'

const MiB = 1024 * 1024
/** The gateway's defaults, set explicitly so the bench does not drift if they change. */
export const NOISY_LIMITS = { bodyLimitBytes: 32 * MiB, maxBytesPerImage: 20 * MiB }
export const NOISY_CLIENTS = 8

/**
 * The ninth client: one connection, a small unique chat request then GET /healthz, one at a time,
 * for `seconds` (chat alone when `health` is false: the floors have no health route). Latencies of
 * each kind apart, ms.
 */
async function probe(port, seconds, { health = true } = {}) {
  const client = new Client(`http://127.0.0.1:${port}`, { keepAliveTimeout: 60_000 })
  const body = bodies.text()
  const chat = []
  const healthz = []
  let errors = 0
  const timed = async (list, options) => {
    const start = performance.now()
    try {
      const { statusCode, body: answer } = await client.request(options)
      for await (const _chunk of answer); // read to the last byte
      if (statusCode === 200) list.push(performance.now() - start)
      else errors++
    } catch {
      errors++
    }
  }
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    await timed(chat, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: body.next(),
    })
    if (health) await timed(healthz, { method: 'GET', path: '/healthz' })
  }
  await client.close()
  const q = (list) => ({ n: list.length, p50: quantile(list, 0.5), p99: quantile(list, 0.99) })
  return { chat: q(chat), health: q(healthz), errors }
}

/**
 * Each server's warm-up, as in the other groups (bench/lib/measure.mjs, warmToSteadyState): a
 * program is compiled only as its paths get hot, and a gateway in production has run them for
 * days. So before anything is measured, the small client runs alone, and then beside the noise,
 * so that neither its path nor the noisy bodies' (the depth scan, the large-body reads, the image
 * checks) is compiled while it is measured.
 */
export const NOISY_WARM_SECONDS = Math.min(3, SECONDS)

async function warmUnderNoise(port, options) {
  const noise = await startNoise(port)
  await probe(port, NOISY_WARM_SECONDS, options)
  await noise.stop()
}

/** The noisy clients, loading `port` until stopped; stop() resolves with their per-kind stats. */
async function startNoise(port) {
  const noise = await forkServer('noisy-clients.mjs', {
    NOISY_PORT: String(port),
    NOISY_CLIENTS: String(NOISY_CLIENTS),
    NOISY_BODY_LIMIT: String(NOISY_LIMITS.bodyLimitBytes),
    NOISY_MAX_IMAGE: String(NOISY_LIMITS.maxBytesPerImage),
  })
  await sleep(1_000) // let the noise reach its steady state
  return {
    async stop() {
      const done = new Promise((resolve) => noise.child.once('message', resolve))
      noise.child.send('stop')
      const { stats } = await done
      await noise.stop()
      return stats
    },
  }
}

/**
 * A floor (bench/thin-forwarder.mjs, bench/parsing-floor.mjs) under the same noise: the ninth
 * client's chat latency alone and loaded. The floors refuse nothing (no limits of their own), so
 * they forward or parse every noisy body.
 */
async function floorUnderNoise(script, upstreamPort) {
  const floor = await forkServer(script, { UPSTREAM_ORIGIN: `http://127.0.0.1:${upstreamPort}` })
  try {
    await probe(floor.port, NOISY_WARM_SECONDS, { health: false }) // warm-up, as the gateway's
    await warmUnderNoise(floor.port, { health: false })
    const unloaded = await probe(floor.port, SECONDS, { health: false })
    const noise = await startNoise(floor.port)
    const loaded = await probe(floor.port, SECONDS, { health: false })
    await noise.stop()
    return { unloaded: unloaded.chat, loaded: loaded.chat }
  } finally {
    await floor.stop()
  }
}

export async function runNoisy(servers) {
  const gateway = await startGateway({
    upstreamPort: servers.upstream.port,
    server: { bodyLimitBytes: NOISY_LIMITS.bodyLimitBytes },
    images: { maxBytesPerImage: NOISY_LIMITS.maxBytesPerImage },
  })
  let row
  try {
    await probe(gateway.port, NOISY_WARM_SECONDS) // warm-up: the small client's path alone, then beside the noise
    const idle = memoryMiB(gateway.pid).rss
    await warmUnderNoise(gateway.port)
    const unloaded = await probe(gateway.port, SECONDS)
    const cpuBefore = cpuMs(gateway.pid)
    const noise = await startNoise(gateway.port)
    // Why the small client waits: is the event loop held by one long task, or busy (or kept off a
    // core) all the time? The main thread's time on a core and waiting for one tells them apart.
    const scheduleBefore = mainThreadSchedule(gateway.pid)
    const loaded = await probe(gateway.port, SECONDS)
    const mainThread = scheduleShares(scheduleBefore, mainThreadSchedule(gateway.pid))
    const stats = await noise.stop()
    // All threads, over the whole noise; the ninth client's few small requests are a rounding error in it.
    const bodiesSent = stats.reduce((sum, kind) => sum + kind.sent, 0)
    const cpuPerNoisyBody = (cpuMs(gateway.pid) - cpuBefore) / Math.max(1, bodiesSent)
    const peak = memoryMiB(gateway.pid).hwm
    row = { unloaded, loaded, idle, peak, noise: stats, seconds: SECONDS + 1, mainThread, cpuPerNoisyBody }
  } finally {
    await gateway.stop()
  }
  row.floors = {
    thin: await floorUnderNoise('thin-forwarder.mjs', servers.upstream.port),
    parsing: await floorUnderNoise('parsing-floor.mjs', servers.upstream.port),
  }
  console.log(
    `noisy: chat p99 ${row.unloaded.chat.p99.toFixed(2)} -> ${row.loaded.chat.p99.toFixed(2)} ms, health p99 ${row.loaded.health.p99.toFixed(2)} ms, RSS ${row.idle.toFixed(0)} -> peak ${row.peak.toFixed(0)} MiB; floors' chat p99: thin ${row.floors.thin.unloaded.p99.toFixed(2)} -> ${row.floors.thin.loaded.p99.toFixed(2)}, parsing ${row.floors.parsing.unloaded.p99.toFixed(2)} -> ${row.floors.parsing.loaded.p99.toFixed(2)} ms`,
  )
  return row
}
