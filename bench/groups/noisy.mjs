// Group `noisy`: a small client's latency while eight others send the largest bodies the gateway
// accepts, next to the same client's latency with nobody else around; and the gateway's memory.
import { Client } from 'undici'
import { bodies } from '../lib/bodies.mjs'
import { quantile, SECONDS } from '../lib/measure.mjs'
import { forkServer, KEY, memoryMiB, sleep, startGateway } from '../lib/processes.mjs'

const MiB = 1024 * 1024
/** The gateway's defaults, set explicitly so the bench does not drift if they change. */
export const NOISY_LIMITS = { bodyLimitBytes: 32 * MiB, maxBytesPerImage: 20 * MiB }
export const NOISY_CLIENTS = 8

/**
 * The ninth client: one connection, a small unique chat request then GET /healthz, one at a time,
 * for `seconds`. Latencies of each kind apart, ms.
 */
async function probe(port, seconds) {
  const client = new Client(`http://127.0.0.1:${port}`, { keepAliveTimeout: 60_000 })
  const body = bodies.text()
  const chat = []
  const health = []
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
    await timed(health, { method: 'GET', path: '/healthz' })
  }
  await client.close()
  const q = (list) => ({ n: list.length, p50: quantile(list, 0.5), p99: quantile(list, 0.99) })
  return { chat: q(chat), health: q(health), errors }
}

export async function runNoisy(servers) {
  const gateway = await startGateway({
    upstreamPort: servers.upstream.port,
    server: { bodyLimitBytes: NOISY_LIMITS.bodyLimitBytes },
    images: { maxBytesPerImage: NOISY_LIMITS.maxBytesPerImage },
  })
  try {
    await probe(gateway.port, Math.min(1, SECONDS)) // warm-up
    const idle = memoryMiB(gateway.pid).rss
    const unloaded = await probe(gateway.port, SECONDS)
    const noise = await forkServer('noisy-clients.mjs', {
      NOISY_PORT: String(gateway.port),
      NOISY_CLIENTS: String(NOISY_CLIENTS),
      NOISY_BODY_LIMIT: String(NOISY_LIMITS.bodyLimitBytes),
      NOISY_MAX_IMAGE: String(NOISY_LIMITS.maxBytesPerImage),
    })
    await sleep(1_000) // let the noise reach its steady state
    const loaded = await probe(gateway.port, SECONDS)
    const done = new Promise((resolve) => noise.child.once('message', resolve))
    noise.child.send('stop')
    const { stats } = await done
    await noise.stop()
    const peak = memoryMiB(gateway.pid).hwm
    const row = { unloaded, loaded, idle, peak, noise: stats, seconds: SECONDS + 1 }
    console.log(
      `noisy: chat p99 ${unloaded.chat.p99.toFixed(2)} -> ${loaded.chat.p99.toFixed(2)} ms, health p99 ${loaded.health.p99.toFixed(2)} ms, RSS ${idle.toFixed(0)} -> peak ${peak.toFixed(0)} MiB`,
    )
    return row
  } finally {
    await gateway.stop()
  }
}
