// Where the gateway spends its CPU: runs it in front of the zero-latency backend, loads it with one
// scenario of the text or images group, and prints where the time went.
//
//   npm run build && node bench/profile.mjs                  the text scenario, BENCH_SECONDS (5) of load
//   BENCH_PROFILE_SCENARIO=stream node bench/profile.mjs     text, text4k, text4knew, stream, stream64, cache, image100k, image1m, image100krenamed, image100k8
//   BENCH_PROFILE_TOOL=perf node bench/profile.mjs           Linux perf instead of V8's profiler (see below)
//   BENCH_PROFILE_STORE=redis node bench/profile.mjs         on a private redis-server, every request charged to a
//                                                            budget there, as in the replicas group
//
// V8's profiler (`node --cpu-prof`, the default) prints the top 25 functions by self time; the
// .cpuprofile is kept in bench/results/ (not committed): open it in Chrome DevTools (Performance
// tab, "Load profile") or VS Code for the call tree. It samples on a wall clock, so time the
// gateway spent preempted shows up too, mostly as `writev`. With perf, only time on a core counts,
// the kernel's and V8's own included, and each sample is charged to the JavaScript function that
// caused it (bench/lib/perf-owners.mjs): the better guide to what a change would save.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scenarioById } from './groups/throughput.mjs'
import { load, SECONDS } from './lib/measure.mjs'
import { jitNames, owners, perfScript, perfWorks, recordPerf } from './lib/perf-owners.mjs'
import { benchDir, forkServer, installCleanup, killAll, root, startGateway, startRedis } from './lib/processes.mjs'
import { REPLICA_BUDGETS } from './groups/replicas.mjs'

const TOP = 25
/** Seconds of load before the profile: the gateway's paths are compiled only once hot (see warmToSteadyState). */
const WARMUP_SECONDS = 10
/**
 * A second, short load between the warm-up and the profile. When a load ends, its requests in flight
 * end as client aborts, whose objects deoptimise hot functions; V8 then compiles them again as the
 * next load starts. Without this run that recompiling (7-9% of the CPU) fell inside the profile; after
 * a second turnover it is mostly gone.
 */
const SETTLE_SECONDS = 2

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
  const tool = process.env.BENCH_PROFILE_TOOL ?? 'v8'
  if (tool !== 'v8' && tool !== 'perf') throw new Error(`BENCH_PROFILE_TOOL is v8 or perf, not ${tool}`)
  if (tool === 'perf' && !perfWorks()) throw new Error('perf cannot record here: install linux-perf, or lower kernel.perf_event_paranoid')
  const scenario = scenarioById(id)
  const dir = join(benchDir, 'results', `profile-${id}-${Date.now()}`)
  mkdirSync(dir, { recursive: true })

  const store = process.env.BENCH_PROFILE_STORE ?? 'memory'
  if (store !== 'memory' && store !== 'redis') throw new Error(`BENCH_PROFILE_STORE is memory or redis, not ${store}`)
  const upstream = await forkServer('zero-upstream.mjs')
  const redis = store === 'redis' ? { redisUrl: (await startRedis()).url, budgets: REPLICA_BUDGETS } : {}
  const spawnedAt = Date.now()
  const nodeArgs = tool === 'perf' ? ['--perf-basic-prof'] : ['--cpu-prof', '--cpu-prof-dir', dir]
  const gateway = await startGateway({ upstreamPort: upstream.port, ...redis }, { nodeArgs })
  const body = scenario.body(upstream)
  // At the scenario's own connections when it has them (image100k8), as the benchmark measures it.
  const loadFor = (options) => load({ port: gateway.port, body, connections: scenario.connections, ...options })
  await loadFor({ seconds: WARMUP_SECONDS })
  await loadFor({ seconds: SETTLE_SECONDS })
  const measuredFrom = Date.now()
  const perfData = join(dir, `gateway-${id}.perf.data`)
  const perf = tool === 'perf' ? recordPerf(gateway.pid, perfData) : undefined
  const result = await loadFor({ pids: [gateway.pid] })
  await perf?.stop()
  console.log(
    `\n${scenario.name}${store === 'redis' ? ', on Redis' : ''}: ${result.rps.toFixed(0)} req/s, ${result.cpuPerReq.toFixed(3)} ms CPU/request over ${SECONDS} s`,
  )
  if (tool === 'perf') {
    // node writes its map of compiled code here (--perf-basic-prof), and leaves it behind.
    const jitMap = `/tmp/perf-${gateway.pid}.map`
    printOwners(perfData, jitMap)
    await gateway.stop()
    rmSync(jitMap, { force: true })
    return
  }
  await gateway.stop() // SIGTERM: the gateway exits normally, and node writes the profile as it does
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`)
  const path = join(dir, `gateway-${id}.cpuprofile`)
  renameSync(join(dir, file), path)

  // The profile starts as the process does (give or take its bootstrap): skip to the measured load.
  const times = selfTimes(JSON.parse(readFileSync(path, 'utf8')), measuredFrom - spawnedAt)
  const busy = times.filter((t) => t.name !== '(idle)').reduce((sum, t) => sum + t.ms, 0)
  console.log(`profile: ${relative(process.cwd(), path)} (whole life of the process)`)
  console.log('the table counts only the measured load, not start-up or warm-up')
  console.log(`top ${TOP} by self time; % of the ${busy.toFixed(0)} ms not idle\n`)
  console.log(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function  file`)
  for (const t of times.filter((x) => x.name !== '(idle)').slice(0, TOP)) {
    console.log(`${t.ms.toFixed(1).padStart(9)} ${((100 * t.ms) / busy).toFixed(1).padStart(6)}  ${t.name}  ${t.file}`)
  }
}

/** The perf recording's top owners (see bench/lib/perf-owners.mjs), read while the gateway's map file is still there. */
function printOwners(dataFile, mapFile) {
  const { samples, kernel, gc, owners: top } = owners(perfScript(dataFile), jitNames(mapFile), root)
  const pct = (share) => `${(100 * share).toFixed(1)}%`
  console.log(`perf: ${relative(process.cwd(), dataFile)}, ${samples} samples of the measured load (on a core only)`)
  console.log(`in the kernel: ${pct(kernel)}; in the garbage collector: ${pct(gc)}`)
  console.log(`top ${TOP} owners: a sample is charged to the first JavaScript function on its stack\n`)
  console.log(`${'%'.padStart(6)}  owner`)
  for (const { owner, share } of top.slice(0, TOP)) console.log(`${pct(share).padStart(6)}  ${owner}`)
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
