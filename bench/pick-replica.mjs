// Micro-benchmark: what choosing a replica costs, per policy, in a pool of 16. Not a timed test (a
// shared CI machine would make it flaky); run it on a quiet machine: `npm run bench:pick`.
// Each pick runs with loads that move (a lease taken and released around it), and affinity picks
// with a fresh key each time, so no branch predictor or cache sees the same pick twice in a row.
import { createBackendPools } from '../dist/backends/pools.js'
import { hashKeyOf } from '../dist/backends/balance/rendezvous.js'
import { loadConfig } from '../dist/config/load.js'

const REPLICAS = 16
const PICKS = 2_000_000
const WARM_UP = 200_000

function poolFor(routing) {
  const urls = Array.from({ length: REPLICAS }, (_, i) => ({ url: `http://10.0.0.${i + 1}:8000/v1`, name: `gpu${i}`, weight: 1 + (i % 3) }))
  const { config } = loadConfig(
    {},
    {
      backends: { main: { kind: 'vllm', urls, routing, healthCheck: { enabled: false } } },
      models: [{ id: 'm', backend: 'main' }],
    },
  )
  const pools = createBackendPools(config, { clock: { now: () => 1_700_000_000_000 } })
  const pool = pools.get('main')
  // A pool at work: each replica with some requests outstanding already.
  for (const replica of pool.replicas) replica.outstanding = Math.floor(Math.random() * 40)
  return pool
}

const keys = Array.from({ length: 4096 }, (_, i) => hashKeyOf((BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(16, '0')))

function measure(routing, withKey) {
  const pool = poolFor(routing)
  const run = (n) => {
    let sink = 0
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      const replica = pool.pick(withKey ? { affinityKey: keys[i & 4095] } : undefined)
      // Move the loads as requests would: one more on the picked replica, one fewer somewhere else.
      replica.outstanding += 1
      const other = pool.replicas[i & (REPLICAS - 1)]
      if (other.outstanding > 0) other.outstanding -= 1
      sink += replica.weight
    }
    const ns = Number(process.hrtime.bigint() - start) / n
    if (sink === 0) throw new Error('unreachable')
    return ns
  }
  run(WARM_UP)
  return run(PICKS)
}

const rows = [
  ['least_outstanding', measure('least_outstanding', false)],
  ['round_robin', measure('round_robin', false)],
  ['affinity', measure('affinity', true)],
]
console.log(`pick cost at ${REPLICAS} replicas, ${PICKS.toLocaleString('en')} picks each (node ${process.version})`)
for (const [routing, ns] of rows) console.log(`  ${routing.padEnd(18)} ${(ns / 1000).toFixed(3)} µs per pick`)
const worst = Math.max(...rows.map(([, ns]) => ns))
console.log(worst < 5_000 ? `OK: every policy under 5 µs` : `SLOW: ${(worst / 1000).toFixed(2)} µs exceeds 5 µs`)
process.exitCode = worst < 5_000 ? 0 : 1
