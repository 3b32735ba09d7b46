// Child processes of a benchmark run: the helper servers (forked, they report their port over IPC),
// gateways (the built dist/main.js with a generated config) and a private redis-server. Every child
// is registered, and killAll() ends them all, whatever way the run ends (see installCleanup).
import { execFileSync, fork, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const KEY = 'bench-key'
export const MODEL = 'llava-hf/llava-1.5-7b-hf'
/** The same model under a name of the gateway's own (as the default config's `local/llava-1.5-7b`): the backend is sent MODEL. */
export const RENAMED_MODEL = 'bench/llava-1.5-7b'
export const benchDir = new URL('..', import.meta.url).pathname
export const root = join(benchDir, '..')

const children = new Set()
const tempDirs = new Set()

/** Ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux almost always). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

export function track(child, name) {
  child.benchName = name
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Ends every child still running: SIGTERM, then SIGKILL for any still there after `graceMs`. */
export async function killAll(graceMs = 3_000) {
  const alive = [...children]
  for (const child of alive) child.kill('SIGTERM')
  const deadline = Date.now() + graceMs
  while (children.size > 0 && Date.now() < deadline) await sleep(50)
  for (const child of children) child.kill('SIGKILL')
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

/** Children die with the run: on normal exit, on an error, on Ctrl-C or SIGTERM. */
export function installCleanup() {
  process.on('exit', () => {
    // Only synchronous work is possible here: a last SIGKILL for anything left.
    for (const child of children) child.kill('SIGKILL')
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping children`)
      killAll(1_000).finally(() => process.exit(130))
    })
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A helper server from bench/ (zero-upstream, which serves images too, and the forwarders): resolves once it listens. */
export function forkServer(file, env = {}) {
  const child = track(
    fork(join(benchDir, file), [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }),
    file,
  )
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before listening`)))
    child.once('message', (m) => resolve({ child, pid: child.pid, port: m.port, stop: () => stop(child) }))
  })
}

export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

/**
 * A gateway config as the benchmarks run it: one model on the zero-latency backend, the bench key,
 * everything else at production defaults (auth on, cache on, metrics on) unless `overrides` says.
 */
export function gatewayConfig({ port, upstreamPort, redisUrl, budgets, server = {}, images = {}, cache = {} }) {
  return {
    // No drain delay: nothing balances load onto a benchmark's gateway, and stop() must see it exit
    // (with its CPU profile written) before its 5 s SIGKILL.
    server: { host: '127.0.0.1', port, drainDelayMs: 0, ...server },
    ...(redisUrl ? { redis: { url: redisUrl } } : {}),
    backends: { zero: { baseUrl: `http://127.0.0.1:${upstreamPort}/v1`, kind: 'vllm' } },
    models: [
      { id: MODEL, backend: 'zero' },
      { id: RENAMED_MODEL, backend: 'zero', upstreamModel: MODEL },
    ],
    keys: [
      {
        alias: 'bench',
        team: 'bench',
        sha256: createHash('sha256').update(KEY).digest('hex'),
        ...(budgets ? { budgets } : {}),
      },
    ],
    images: {
      ...images,
      fetch: { allowNetworks: ['127.0.0.1/32'], allowedPorts: [upstreamPort], ...(images.fetch ?? {}) },
    },
    ...(Object.keys(cache).length ? { cache } : {}),
  }
}

/**
 * The node flags `npm start` gives the gateway (package.json's start script: `node <flags> dist/main.js`):
 * benchmarks run it as production does.
 */
export const GATEWAY_NODE_FLAGS = (() => {
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start
  const flags = /^node((?: --[^\s]+)*) dist\/main\.js$/.exec(start)
  if (!flags) throw new Error(`package.json's start script is not "node [flags] dist/main.js": ${start}`)
  return flags[1].trim().split(' ').filter(Boolean)
})()

/**
 * Starts `node [GATEWAY_NODE_FLAGS] [nodeArgs] dist/main.js --config <file>` with LOG_LEVEL=info, its log going to
 * /dev/null: the cost of writing it is part of the gateway's. Resolves once GET /readyz answers 200
 * (the store is reachable), so a Redis-backed replica is measured only once connected. `main` runs
 * another build (bench/ab.mjs); `cpus` pins the process to those cores (`taskset -c`).
 */
export async function startGateway(options, { nodeArgs = [], cwd = root, main = join(root, 'dist/main.js'), cpus } = {}) {
  const port = options.port ?? (await freePort())
  const dir = mkdtempSync(join(tmpdir(), 'llava-bench-'))
  tempDirs.add(dir)
  const configPath = join(dir, 'gateway.yaml')
  // JSON is YAML: the gateway's loader reads it as it is.
  writeFileSync(configPath, JSON.stringify(gatewayConfig({ ...options, port })))
  const child = track(
    spawn(
      cpus === undefined ? process.execPath : 'taskset',
      [...(cpus === undefined ? [] : ['-c', cpus, process.execPath]), ...GATEWAY_NODE_FLAGS, ...nodeArgs, main, '--config', configPath],
      {
        cwd,
        env: { ...process.env, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    ),
    'gateway',
  )
  await untilReady(child, 'gateway', `http://127.0.0.1:${port}/readyz`)
  return { child, pid: child.pid, port, stop: () => stop(child) }
}

/** Resolves once `url` answers 2xx; throws if `child` exits first or 20 s pass. */
export async function untilReady(child, name, url) {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} at start`)
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready after 20 s`)
    await sleep(50)
  }
}

/** A private redis-server: no persistence, on a free port; `url` for the gateway config. */
export async function startRedis() {
  const port = await freePort()
  const child = track(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
    'redis-server',
  )
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
    const up = await new Promise((resolve) => {
      const s = createConnection(port, () => {
        s.end()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (up) break
    if (Date.now() > deadline) throw new Error('redis-server not listening after 10 s')
    await sleep(50)
  }
  return { child, pid: child.pid, port, url: `redis://127.0.0.1:${port}`, stop: () => stop(child) }
}

/** CPU time the process has used so far, user + system, all threads, in milliseconds. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces) start at state, field 3: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
}

/**
 * The machine's CPU time so far, in ticks, from the first line of /proc/stat: all of it, and the
 * part stolen (field 8: time the hypervisor gave these cores to other guests). Undefined where
 * there is no /proc/stat.
 */
export function hostCpuTicks() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal (guest time is already counted in user and nice)
    const counted = fields.slice(0, 8)
    return { total: counted.reduce((a, b) => a + b, 0), steal: counted[7] ?? 0 }
  } catch {
    return undefined
  }
}

/** The share of the machine's CPU time stolen between two hostCpuTicks() readings, 0-1; undefined without both. */
export function stealShare(before, after) {
  if (!before || !after || after.total <= before.total) return undefined
  return (after.steal - before.steal) / (after.total - before.total)
}

/**
 * The process's main thread (its event loop) so far: nanoseconds on a core and nanoseconds runnable
 * but waiting for one, from /proc/<pid>/schedstat. Undefined where the kernel keeps no such file.
 */
export function mainThreadSchedule(pid) {
  try {
    const [onCpuNs, waitingNs] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number)
    return { onCpuNs, waitingNs, at: performance.now() }
  } catch {
    return undefined
  }
}

/** The shares of the wall time between two mainThreadSchedule() readings spent on a core and waiting for one, 0-1. */
export function scheduleShares(before, after) {
  if (!before || !after) return undefined
  const wallNs = (after.at - before.at) * 1e6
  return { onCpu: (after.onCpuNs - before.onCpuNs) / wallNs, waiting: (after.waitingNs - before.waitingNs) / wallNs }
}

/** Resident memory now (VmRSS) and its high-water mark (VmHWM), MiB. */
export function memoryMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN)
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 }
}
