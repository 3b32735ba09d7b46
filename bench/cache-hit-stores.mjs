// The cache-hit path on each store: identical temperature-0 requests (every one after the first is a
// hit) against a gateway on its in-memory store and one on a private redis-server, with and without a
// day budget on the key, taking turns, two rounds. Prints req/s and CPU ms/request per setting.
//
//   npm run build && node bench/cache-hit-stores.mjs        (BENCH_SECONDS per measurement, default 5)
import { bodies } from './lib/bodies.mjs'
import { load, SECONDS } from './lib/measure.mjs'
import { forkServer, installCleanup, killAll, startGateway, startRedis } from './lib/processes.mjs'

installCleanup()
const upstream = await forkServer('zero-upstream.mjs')
const redis = await startRedis()
const budgets = [{ window: 'day', tokens: 1e12 }]
const settings = [
  ['in-memory', await startGateway({ upstreamPort: upstream.port })],
  ['redis', await startGateway({ upstreamPort: upstream.port, redisUrl: redis.url })],
  ['in-memory, budgeted key', await startGateway({ upstreamPort: upstream.port, budgets })],
  ['redis, budgeted key', await startGateway({ upstreamPort: upstream.port, redisUrl: redis.url, budgets })],
]
const body = bodies.cacheHit()
console.log('| round | store | req/s | CPU ms/req |\n|---|---|---|---|')
for (const round of [1, 2]) {
  for (const [name, gateway] of settings) {
    await load({ port: gateway.port, body, seconds: 1 }) // warm-up, and the one miss that fills the cache
    const result = await load({ port: gateway.port, pids: [gateway.pid], body, seconds: SECONDS })
    console.log(`| ${round} | ${name} | ${result.rps.toFixed(0)} | ${result.cpuPerReq.toFixed(3)} |`)
  }
}
await killAll()
process.exit(0)
