// Benchmarks: the gateway against two floors (a thin forwarder and a parsing hono + zod + undici
// forwarder), measured in the same run on the same machine, in front of a zero-latency backend.
// Results are ratios against the faster floor, written to BENCHMARKS.md.
//
//   npm run bench                      every group (builds first)
//   BENCH_ONLY=text,noisy npm run bench   some groups: text, images, openloop, memory, noisy, replicas, peers
//   BENCH_SECONDS=3 npm run bench      length of each measurement (default 5)
//
// A full run writes BENCHMARKS.md; a partial one writes bench/results/<groups>.md (not committed).
// Either also writes its raw results to bench/results/<groups or all>.json (not committed).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runChunkedUploads, runMemory } from './groups/memory.mjs'
import { runNoisy } from './groups/noisy.mjs'
import { runPeers } from './groups/peers.mjs'
import { runReplicas } from './groups/replicas.mjs'
import { runOpenLoop, runScenario, SCENARIOS } from './groups/throughput.mjs'
import { warmToSteadyState } from './lib/measure.mjs'
import { benchDir, forkServer, hostCpuTicks, installCleanup, killAll, root, startGateway, stealShare } from './lib/processes.mjs'
import { report } from './lib/report.mjs'

const GROUPS = ['text', 'images', 'openloop', 'memory', 'noisy', 'replicas', 'peers']

function chosenGroups() {
  const only = process.env.BENCH_ONLY?.split(',')
    .map((g) => g.trim())
    .filter(Boolean)
  if (!only?.length) return GROUPS
  const unknown = only.filter((g) => !GROUPS.includes(g))
  if (unknown.length) throw new Error(`unknown BENCH_ONLY group ${unknown.join(', ')}; groups: ${GROUPS.join(', ')}`)
  return GROUPS.filter((g) => only.includes(g))
}

/** The backend and the two floors; the main gateway only when a group compares against it. */
async function startServers(groups) {
  const upstream = await forkServer('zero-upstream.mjs')
  const origin = { UPSTREAM_ORIGIN: `http://127.0.0.1:${upstream.port}` }
  const servers = { upstream }
  if (groups.some((g) => ['text', 'images', 'openloop', 'peers'].includes(g))) {
    servers.thin = await forkServer('thin-forwarder.mjs', origin)
    servers.parsing = await forkServer('parsing-floor.mjs', origin)
    servers.gateway = await startGateway({ upstreamPort: upstream.port })
    // No measurement may pay for the JIT: every server is brought to its steady state first.
    const scenarios = [...SCENARIOS.text, ...SCENARIOS.images]
    for (const name of ['thin', 'parsing', 'gateway'])
      await warmToSteadyState(
        servers[name],
        scenarios.map((s) => () => s.body(upstream)),
      )
  }
  return servers
}

async function main() {
  const started = Date.now()
  const hostBefore = hostCpuTicks()
  const groups = chosenGroups()
  const servers = await startServers(groups)
  const results = {}
  for (const group of groups) {
    console.log(`\n== ${group}`)
    if (group === 'text' || group === 'images') {
      results[group] = []
      for (const scenario of SCENARIOS[group]) results[group].push(await runScenario(servers, scenario))
    }
    if (group === 'openloop') results.openloop = await runOpenLoop(servers)
    if (group === 'memory') {
      results.memory = await runMemory(servers)
      results.uploads = await runChunkedUploads(servers)
    }
    if (group === 'noisy') results.noisy = await runNoisy(servers)
    if (group === 'peers') results.peers = await runPeers(servers)
    if (group === 'replicas') {
      const { scaling, costs } = await runReplicas(servers)
      results.replicas = scaling
      results.capacity = costs
    }
  }
  // How much of the cores other guests of the host took: the figure that says how noisy this run was.
  results.host = { steal: stealShare(hostBefore, hostCpuTicks()) }
  const partial = groups.length === GROUPS.length ? undefined : groups.join(',')
  const markdown = report(results, { elapsedMs: Date.now() - started, partial })
  let file = join(root, 'BENCHMARKS.md')
  if (partial) {
    mkdirSync(join(benchDir, 'results'), { recursive: true })
    file = join(benchDir, 'results', `${groups.join('-')}.md`)
  }
  writeFileSync(file, markdown + '\n')
  // The raw figures too, not committed: report() can be run again on them (bench/results/ is ignored).
  mkdirSync(join(benchDir, 'results'), { recursive: true })
  writeFileSync(join(benchDir, 'results', `${partial ? groups.join('-') : 'all'}.json`), JSON.stringify(results, null, 1) + '\n')
  console.log(`\n${markdown}\n\nwrote ${file} (${((Date.now() - started) / 60_000).toFixed(1)} min)`)
}

installCleanup()
main()
  .catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(() => killAll())
