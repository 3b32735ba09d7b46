// Where the gateway spends its CPU: runs it under `node --cpu-prof` in front of the zero-latency
// backend, loads it with one scenario of the text or images group, and prints the top 25
// functions by self time (aggregated by function name + file) from the .cpuprofile.
//
//   npm run build && node bench/profile.mjs                  the text scenario, BENCH_SECONDS (5) of load
//   BENCH_PROFILE_SCENARIO=stream node bench/profile.mjs     text, text4k, text4knew, stream, stream64, cache, image100k, image1m
//
// The profile is kept in bench/results/ (not committed): open it in Chrome DevTools (Performance tab,
// "Load profile") or VS Code for the call tree.
import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scenarioById } from './groups/throughput.mjs'
import { load, SECONDS } from './lib/measure.mjs'
import { benchDir, forkServer, installCleanup, killAll, root, startGateway } from './lib/processes.mjs'

const TOP = 25

/**
 * Self time per function (name + file), ms, from a V8 .cpuprofile; sorted, largest first. Samples
 * in the first `skipMs` of the profile (start-up, warm-up) are left out.
 */
export function selfTimes(profile, skipMs = 0) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const totals = new Map()
  let elapsedUs = 0
  profile.samples.forEach((id, i) => {
    elapsedUs += profile.timeDeltas[i] ?? 0
    if (elapsedUs < skipMs * 1000) return
    // timeDeltas[i] is the time since the previous sample: charged to the function on the stack now.
    const { functionName, url } = byId.get(id).callFrame
    const file = url.startsWith('file://') ? relative(root, fileURLToPath(url)) : url || '(native)'
    const key = `${functionName || '(anonymous)'}\t${file}`
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  })
  return [...totals.entries()].map(([key, ms]) => ({ name: key.split('\t')[0], file: key.split('\t')[1], ms })).sort((a, b) => b.ms - a.ms)
}

async function main() {
  const id = process.env.BENCH_PROFILE_SCENARIO ?? 'text'
  const scenario = scenarioById(id)
  const dir = join(benchDir, 'results', `profile-${id}-${Date.now()}`)
  mkdirSync(dir, { recursive: true })

  const upstream = await forkServer('zero-upstream.mjs')
  const spawnedAt = Date.now()
  const gateway = await startGateway({ upstreamPort: upstream.port }, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] })
  const body = scenario.body()
  await load({ port: gateway.port, body, seconds: 1 }) // warm-up: the JIT's first work is not the steady state
  const measuredFrom = Date.now()
  const result = await load({ port: gateway.port, pids: [gateway.pid], body })
  await gateway.stop() // SIGTERM: the gateway exits normally, and node writes the profile as it does
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`)
  const path = join(dir, `gateway-${id}.cpuprofile`)
  renameSync(join(dir, file), path)

  // The profile starts as the process does (give or take its bootstrap): skip to the measured load.
  const times = selfTimes(JSON.parse(readFileSync(path, 'utf8')), measuredFrom - spawnedAt)
  const busy = times.filter((t) => t.name !== '(idle)').reduce((sum, t) => sum + t.ms, 0)
  console.log(`\n${scenario.name}: ${result.rps.toFixed(0)} req/s, ${result.cpuPerReq.toFixed(3)} ms CPU/request over ${SECONDS} s`)
  console.log(`profile: ${relative(process.cwd(), path)} (whole life of the process)`)
  console.log('the table counts only the measured load, not start-up or warm-up')
  console.log(`top ${TOP} by self time; % of the ${busy.toFixed(0)} ms not idle\n`)
  console.log(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function  file`)
  for (const t of times.filter((x) => x.name !== '(idle)').slice(0, TOP)) {
    console.log(`${t.ms.toFixed(1).padStart(9)} ${((100 * t.ms) / busy).toFixed(1).padStart(6)}  ${t.name}  ${t.file}`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  installCleanup()
  main()
    .catch((err) => {
      console.error(err)
      process.exitCode = 1
    })
    .finally(() => killAll())
}
