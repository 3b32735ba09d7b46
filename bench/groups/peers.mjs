// Group `peers`: the gateway against Portkey's open-source gateway (bench/lib/peers.mjs), closed-loop
// throughput and CPU per request, the two taking turns. Each keeps its own defaults: ours with
// auth, validation, exact token counts, the cache, metrics and info logs; Portkey as its server
// starts (no cache without Redis, so an identical request is forwarded).
import { load, medianOf, warmToSteadyState, warmUp } from '../lib/measure.mjs'
import { PORTKEY, startPortkey } from '../lib/peers.mjs'
import { scenarioById } from './throughput.mjs'

const REPEATS = 2
const SCENARIO_IDS = ['text', 'text4k', 'stream', 'cache', 'image100k']

export async function runPeers(servers) {
  const peer = await startPortkey(servers.upstream.port)
  try {
    // As the gateway and the floors got at their start: no measurement may pay for the JIT.
    await warmToSteadyState(
      peer,
      SCENARIO_IDS.map((id) => scenarioById(id).body),
    )
    const rows = []
    for (const id of SCENARIO_IDS) {
      const scenario = scenarioById(id)
      const body = scenario.body()
      const measured = { gateway: servers.gateway, peer }
      for (const server of Object.values(measured)) await warmUp(server, body)
      const runs = { gateway: [], peer: [] }
      for (let r = 0; r < REPEATS; r++) {
        for (const [name, server] of Object.entries(measured)) {
          runs[name].push(await load({ port: server.port, pids: [server.pid], body, headers: server.headers }))
        }
      }
      const row = { id, name: scenario.name, gateway: medianOf(runs.gateway), peer: medianOf(runs.peer) }
      console.log(
        `${row.name}: gateway ${row.gateway.rps.toFixed(0)} req/s, ${PORTKEY.name} ${row.peer.rps.toFixed(0)} req/s (${row.peer.errors} failed)`,
      )
      rows.push(row)
    }
    return { peer: `${PORTKEY.name} ${PORTKEY.version}`, node: process.version, rows }
  } finally {
    await peer.stop()
  }
}
