import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

export type Exit = { code: number | null; signal: NodeJS.Signals | null }

export type WaitForLineOptions = {
  timeoutMs: number
  /** What the line means, for the failure message: "redis-server to accept connections". */
  what: string
  /** Look only at lines from this index on (e.g. `lines.length` before a restart); default: every line so far. */
  since?: number
}

/**
 * A child process whose stdout and stderr lines are kept, so tests wait on what the process says
 * ("Ready to accept connections") instead of sleeping, and failures can show its last words.
 */
export type Child = {
  readonly pid: number
  /** Every stdout and stderr line so far, in arrival order. */
  readonly lines: readonly string[]
  /** Settles when the process has exited; never rejects. */
  readonly exited: Promise<Exit>
  running(): boolean
  signal(signal: NodeJS.Signals): void
  /** The first line (from `since` on) that passes `test`; rejects if the process exits or the time runs out first. */
  waitForLine(test: (line: string) => boolean, options: WaitForLineOptions): Promise<string>
  /** The last lines, for error messages. */
  tail(count?: number): string
}

// Last resort if a test file forgets (or cannot reach) its cleanup: no child outlives the worker
// that started it. 'exit' handlers must be synchronous, and kill() is.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/**
 * Starts `command` and resolves once it is running. A command that cannot be started (not
 * installed) rejects with a message saying so: tests fail, never skip, without their binaries.
 */
export async function spawnChild(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Child> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    await once(child, 'spawn')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    throw new Error(`cannot start ${command} (${code}): is it installed and on PATH? Tests need the real binary.`)
  }
  live.add(child)
  const lines: string[] = []
  const listeners = new Set<(line: string) => void>()
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      lines.push(line)
      for (const listener of listeners) listener(line)
    })
  }
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    }),
  )
  const tail = (count = 20) => lines.slice(-count).join('\n')
  const running = () => child.exitCode === null && child.signalCode === null

  return {
    pid: child.pid as number, // set once 'spawn' has fired
    lines,
    exited,
    running,
    tail,
    signal: (signal) => {
      if (running()) child.kill(signal)
    },
    waitForLine: (test, { timeoutMs, what, since = 0 }) =>
      new Promise<string>((resolve, reject) => {
        const earlier = lines.slice(since).find(test)
        if (earlier !== undefined) {
          resolve(earlier)
          return
        }
        const done = () => {
          listeners.delete(listener)
          clearTimeout(timer)
        }
        const listener = (line: string) => {
          if (!test(line)) return
          done()
          resolve(line)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${command}'s last lines:\n${tail()}`))
        }, timeoutMs)
        listeners.add(listener)
        void exited.then((exit) => {
          if (!listeners.has(listener)) return
          done()
          reject(new Error(`${command} exited (${exit.signal ?? `code ${exit.code}`}) before ${what}; last lines:\n${tail()}`))
        })
      }),
  }
}
