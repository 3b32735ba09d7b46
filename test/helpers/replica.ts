import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import type { ConfigInput } from '../../src/config/schema.js'
import { spawnChild, type Exit } from './child-process.js'
import { stopWhenDone } from './cleanup.js'

/** One line of the gateway's JSON log (pino). */
export type LogEntry = { readonly msg?: string; readonly level?: number; readonly [field: string]: unknown }

export type ReplicaOptions = {
  /** What config/gateway.yaml would hold, as an object; `${VAR}` strings are interpolated from `env` as usual. */
  config: ConfigInput
  /** The replica's whole environment besides PATH, HOME, TMPDIR and LOG_LEVEL=info: nothing leaks in from the test runner's. */
  env?: Record<string, string>
  /** 0 (default): the OS picks a port and the replica reports it in its listening line, so no other process can take it first. */
  port?: number
  /** Default 15 s: a replica loads the whole gateway under tsx, seconds on two busy cores. From a beforeAll, raise its hook timeout above this. */
  startTimeoutMs?: number
}

/** The gateway as a real process (`src/main.ts` under tsx), to crash, freeze or stop like a deployed replica. */
export type Replica = {
  readonly url: string
  readonly port: number
  readonly pid: number
  /** Every stdout and stderr line so far. */
  readonly logs: readonly string[]
  /** Replaces the replica's config file (as `startReplica` wrote it: loopback, the same port); a SIGHUP then reloads it. */
  rewriteConfig(config: ConfigInput | string): Promise<void>
  /** Sends a signal without waiting for anything (SIGHUP: reload). */
  signal(signal: NodeJS.Signals): void
  /** The JSON log lines, parsed. */
  entries(): LogEntry[]
  /** The first JSON log line passing `test` (including earlier ones), awaited: "redis reachable again". */
  waitForLog(test: (entry: LogEntry) => boolean, options: { timeoutMs: number; what: string }): Promise<LogEntry>
  /** SIGSTOP: a replica stuck in a GC pause or descheduled, holding whatever leases and locks it took. */
  freeze(): void
  thaw(): void
  /** Sends `signal` (default SIGTERM: graceful drain) and resolves with the exit code; null when the signal killed it (SIGKILL: `kill -9`). */
  kill(signal?: NodeJS.Signals): Promise<number | null>
  waitForExit(): Promise<Exit>
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const LISTENING = 'llava-gateway listening'
const running = new Set<() => Promise<void>>()

/**
 * Writes `config` to a temp YAML file and starts `node --import tsx src/main.ts --config <file>`
 * (what `npm run dev` runs, without watch; `dist/` would need a build first). Resolves once the
 * replica logs that it listens; its URL comes from that line.
 */
export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  const dir = await mkdtemp(join(tmpdir(), 'harness-replica-'))
  const file = join(dir, 'gateway.yaml')
  // Loopback only: a replica under test is never reachable from beyond this machine.
  const config = { ...options.config, server: { ...options.config.server, host: '127.0.0.1', port: options.port ?? 0 } }
  await writeFile(file, stringify(config))

  const child = await spawnChild(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', file], {
    cwd: ROOT,
    env: { ...baseEnv(), LOG_LEVEL: 'info', ...options.env },
  })
  let frozen = false
  const stop = async () => {
    running.delete(stop)
    child.signal('SIGKILL') // cleanup need not be graceful; SIGKILL also ends a frozen process
    await child.exited
    await rm(dir, { recursive: true, force: true })
  }
  running.add(stop)
  stopWhenDone(stop) // before waiting, so a replica that never gets ready is stopped too

  const waitForLog: Replica['waitForLog'] = async (test, { timeoutMs, what }) => {
    const line = await child.waitForLine(
      (text) => {
        const entry = parseEntry(text)
        return entry !== undefined && test(entry)
      },
      { timeoutMs, what },
    )
    return parseEntry(line) as LogEntry
  }
  const listening = await waitForLog((entry) => entry.msg === LISTENING, {
    timeoutMs: options.startTimeoutMs ?? 15_000,
    what: `the gateway to log "${LISTENING}"`,
  })
  const port = listening['port']
  if (typeof port !== 'number') throw new Error(`listening line has no port: ${JSON.stringify(listening)}`)

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    logs: child.lines,
    rewriteConfig: async (next) =>
      writeFile(file, typeof next === 'string' ? next : stringify({ ...next, server: { ...next.server, host: '127.0.0.1', port } })),
    signal: (signal) => child.signal(signal),
    entries: () => child.lines.map(parseEntry).filter((entry) => entry !== undefined),
    waitForLog,
    freeze() {
      child.signal('SIGSTOP')
      frozen = true
    },
    thaw() {
      if (frozen) child.signal('SIGCONT')
      frozen = false
    },
    async kill(signal = 'SIGTERM') {
      if (frozen && signal !== 'SIGKILL') child.signal('SIGCONT')
      child.signal(signal)
      return (await child.exited).code
    },
    waitForExit: () => child.exited,
  }
}

/** SIGKILLs every replica still running (they are also stopped at the end of their test, or file). */
export async function stopAllReplicas(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()))
}

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const name of ['PATH', 'HOME', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name]
  return env
}

function parseEntry(line: string): LogEntry | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(line)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as LogEntry) : undefined
  } catch {
    return undefined
  }
}
