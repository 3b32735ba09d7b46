import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnChild, type Child } from './child-process.js'
import { stopWhenDone } from './cleanup.js'
import { freePort } from './free-port.js'
import { within } from './wait.js'

export type RedisOptions = {
  /**
   * Extra redis-server arguments, after the defaults (so they win): `['--appendonly', 'yes']`. Not
   * `--logfile`: readiness and `waitForLog` read the server's stdout.
   */
  args?: readonly string[]
  /** How long to wait for "Ready to accept connections" (AOF loading included); under vitest's 10 s hook timeout, so this message wins. */
  readyTimeoutMs?: number
}

/** A private redis-server that a test may freeze, crash and restart. */
export type RedisServer = {
  readonly url: string
  readonly port: number
  /** Its working directory (`--dir`): RDB/AOF files and cluster `nodes.conf` live here across restarts. */
  readonly dir: string
  /** The current process; a restart changes it. */
  readonly pid: number
  /** Every line the current and earlier processes printed. */
  readonly logs: readonly string[]
  /** The first line of the current process (since its last start) that passes `test`, awaited: "Cluster state changed: ok". */
  waitForLog(test: (line: string) => boolean, options: { timeoutMs: number; what: string }): Promise<string>
  /** SIGSTOP: the port still accepts connections (the kernel does that) but nothing answers, like a hung host. */
  freeze(): void
  /** SIGCONT: a frozen server carries on where it stopped, answering whatever was sent meanwhile. */
  thaw(): void
  /** SIGTERM (after a thaw), wait for the exit, start again on the same port, dir and args, wait until ready. Also starts a killed server. */
  restart(): Promise<void>
  /** SIGKILL, the crash case: no shutdown save; with AOF, what was not yet fsynced is lost. The dir stays for `restart()`. */
  kill(): Promise<void>
  /** Thaw, SIGTERM, wait for the exit, remove the dir. Idempotent; runs by itself at the end of the test (or file). */
  stop(): Promise<void>
}

// Defaults first: a clean, private, foreground server on loopback; `args` come after and override.
// No RDB snapshots unless asked for, so a restart loads only what a test chose to persist.
const BASE_ARGS = ['--bind', '127.0.0.1', '--daemonize', 'no', '--save', '', '--appendonly', 'no', '--logfile', '']
const READY = 'Ready to accept connections'
const STOP_TIMEOUT_MS = 5_000
const PORT_ATTEMPTS = 3

const running = new Set<RedisServer>()

/** Starts a redis-server on a free loopback port in its own temp dir; resolves once it accepts connections. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const args = options.args ?? []
  const readyTimeoutMs = options.readyTimeoutMs ?? 5_000
  const dir = await mkdtemp(join(tmpdir(), 'harness-redis-'))
  let started: { port: number; child: Child }
  try {
    started = await launchOnFreePort(dir, args, readyTimeoutMs)
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  const { port, child } = started

  // One Child per process the server has had; a restart appends one.
  const processes: Child[] = [child]
  const current = () => processes[processes.length - 1] as Child
  let frozen = false
  let stopped = false
  const terminate = async (signal: NodeJS.Signals) => {
    const proc = current()
    if (!proc.running()) return
    if (signal !== 'SIGKILL' && frozen) proc.signal('SIGCONT') // a stopped process cannot act on SIGTERM
    proc.signal(signal)
    frozen = false
    try {
      await within(proc.exited, { timeoutMs: STOP_TIMEOUT_MS, what: `redis-server on port ${port} to exit on ${signal}` })
    } catch (err) {
      proc.signal('SIGKILL')
      await proc.exited
      throw err
    }
  }

  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return current().pid
    },
    get logs() {
      return processes.flatMap((proc) => proc.lines)
    },
    waitForLog: (test, options) => current().waitForLine(test, options),
    freeze() {
      if (!current().running()) throw new Error(`redis-server on port ${port} is not running`)
      current().signal('SIGSTOP')
      frozen = true
    },
    thaw() {
      if (!frozen) return
      current().signal('SIGCONT')
      frozen = false
    },
    async restart() {
      if (stopped) throw new Error(`redis-server on port ${port} was stopped; start a new one`)
      await terminate('SIGTERM')
      processes.push(await launch(port, dir, args, readyTimeoutMs))
    },
    async kill() {
      await terminate('SIGKILL')
    },
    async stop() {
      if (stopped) return
      stopped = true
      running.delete(server)
      try {
        await terminate('SIGTERM')
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
  }
  running.add(server)
  stopWhenDone(() => server.stop())
  return server
}

/** Stops every server started by this file's tests (they also stop by themselves; this is for an explicit afterAll). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()))
}

/** The port was free when picked; if something took it since, redis-server exits and we pick again. */
async function launchOnFreePort(dir: string, args: readonly string[], readyTimeoutMs: number): Promise<{ port: number; child: Child }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return { port, child: await launch(port, dir, args, readyTimeoutMs) }
    } catch (err) {
      if (attempt >= PORT_ATTEMPTS || !(err instanceof Error) || !err.message.includes('Address already in use')) throw err
    }
  }
}

async function launch(port: number, dir: string, args: readonly string[], readyTimeoutMs: number): Promise<Child> {
  const child = await spawnChild('redis-server', [...BASE_ARGS, '--port', String(port), '--dir', dir, ...args])
  try {
    await child.waitForLine((line) => line.includes(READY), { timeoutMs: readyTimeoutMs, what: `redis-server on port ${port} to be ready` })
  } catch (err) {
    child.signal('SIGKILL')
    await child.exited
    throw err
  }
  return child
}
