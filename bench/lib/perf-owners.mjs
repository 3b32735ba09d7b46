// CPU time by the JavaScript function that owns it, from Linux `perf`: what bench/profile.mjs prints
// with BENCH_PROFILE_TOOL=perf.
//
// Why a second profiler: V8's (--cpu-prof) samples on a wall clock. When the gateway writes to a
// socket on loopback, the kernel wakes the reader, and on a busy 2-core host the reader often
// takes the core at once; V8 then charges the time the gateway sat preempted to `writev`. That made
// writev 17-31% of the gateway's profile, where perf, which samples only time spent on a core, puts
// every socket write, wake-ups included, at 10-17%. perf sees the kernel and V8's own C++ (JSON
// parsing, GC, the compiler) too; node's --perf-basic-prof map names the JIT-compiled functions.
//
// A sample's owner is the first JavaScript frame from its leaf: a builtin (JSON.parse, a property
// load) or a syscall is charged to the function that called it, which is the one to change.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Whether `perf record` can sample a process here (installed, and allowed by perf_event_paranoid). */
export function perfWorks() {
  try {
    execFileSync('perf', ['record', '-q', '-o', '/dev/null', '--', 'true'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Starts `perf record` on `pid` with call stacks; `stop()` ends it and resolves once its file is written. */
export function recordPerf(pid, file) {
  const perf = spawn('perf', ['record', '-q', '-g', '-F', '999', '-o', file, '-p', String(pid)], { stdio: 'inherit' })
  const exited = new Promise((resolve) => perf.once('exit', resolve))
  return {
    stop: async () => {
      perf.kill('SIGINT')
      await exited
    },
  }
}

/**
 * node's /tmp/perf-<pid>.map as a lookup from code address to function name. V8 reuses the address
 * of code it has thrown away, and the map only grows: the last entry covering an address is the code
 * there now (perf's own lookup takes the first, and so names long-dead code).
 */
export function jitNames(mapFile) {
  const ranges = readFileSync(mapFile, 'utf8')
    .split('\n')
    .map((line) => /^([0-9a-f]+) ([0-9a-f]+) (.+)$/.exec(line))
    .filter(Boolean)
    .map(([, start, size, name]) => ({ start: BigInt(`0x${start}`), end: BigInt(`0x${start}`) + BigInt(`0x${size}`), name }))
  const known = new Map()
  return (address) => {
    if (known.has(address)) return known.get(address)
    const at = BigInt(`0x${address}`)
    let name
    for (const range of ranges) if (at >= range.start && at < range.end) name = range.name
    known.set(address, name)
    return name
  }
}

/**
 * Samples per owner, from `perf script` text: [{ owner, share }], largest first, with the kernel's
 * and the garbage collector's own shares of all samples.
 */
export function owners(scriptText, nameOf, root = process.cwd()) {
  const totals = new Map()
  let samples = 0
  let kernel = 0
  let gc = 0
  for (const block of scriptText.split('\n\n')) {
    const frames = block
      .split('\n')
      .slice(1)
      .map((line) => /^\s+([0-9a-f]+) (.+) \((.+)\)$/.exec(line))
      .filter(Boolean)
      .map(([, address, symbol, object]) => ({
        name: object.includes('perf-') ? (nameOf(address) ?? symbol) : symbol.replace(/\+0x[0-9a-f]+$/, ''),
        kernel: object.includes('kernel'),
      }))
    if (frames.length === 0) continue
    samples++
    if (frames[0].kernel) kernel++
    if (frames.some((f) => /Scavenger|MarkCompact|Heap::CollectGarbage|ConcurrentMarking/.test(f.name))) gc++
    const js = frames.find((f) => f.name.startsWith('JS:'))
    const owner = js
      ? js.name.slice(3).replace(`file://${root}/`, '').replace(`${root}/`, '')
      : `(${frames[0].kernel ? 'kernel' : 'native'}) ${frames[0].name}`
    totals.set(owner, (totals.get(owner) ?? 0) + 1)
  }
  const share = (n) => (samples === 0 ? 0 : n / samples)
  return {
    samples,
    kernel: share(kernel),
    gc: share(gc),
    owners: [...totals].map(([owner, n]) => ({ owner, share: share(n) })).sort((a, b) => b.share - a.share),
  }
}

/** `perf script` of a recording, as text (tens of MB for a few seconds of load). */
export function perfScript(file) {
  return execFileSync('perf', ['script', '-i', file], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString()
}
