import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import type { ConfigInput } from '../../src/config/schema.js'
import { spawnChild } from '../helpers/child-process.js'
import { testConfig } from '../helpers/test-app.js'

// A gateway started on a port another process holds: an operator's first mistake after a restart
// that left the old process draining. It must say so in one line and exit 1, not print a stack.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
let holder: Server
let takenPort: number
let dir: string

beforeAll(async () => {
  holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  takenPort = (holder.address() as AddressInfo).port
  dir = await mkdtemp(join(tmpdir(), 'listen-failure-'))
})
afterAll(async () => {
  holder.close()
  await rm(dir, { recursive: true, force: true })
})

/** Starts `src/main.ts` under tsx with `config` and resolves with its exit code and JSON log lines once it ends. */
async function runUntilExit(name: string, config: ConfigInput) {
  const file = join(dir, `${name}.yaml`)
  await writeFile(file, stringify(config))
  const child = await spawnChild(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', file], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info' },
  })
  const exit = await child.exited
  const entries = child.lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  return { exit, entries, output: child.lines.join('\n') }
}

describe('a listener that cannot bind', () => {
  it('ends the gateway with exit code 1 and one fatal line naming the address, when its port is taken', async () => {
    const config = { ...testConfig('http://127.0.0.1:9/v1'), server: { host: '127.0.0.1', port: takenPort } }
    const { exit, entries, output } = await runUntilExit('main-port', config)
    expect(exit.code).toBe(1)
    expect(entries.filter((e) => e['level'] === 60)).toEqual([
      expect.objectContaining({
        msg: `cannot listen for requests on 127.0.0.1:${takenPort}: the port is in use`,
        code: 'EADDRINUSE',
        port: takenPort,
      }),
    ])
    expect(output).not.toMatch(/Unhandled 'error' event|setupListenHandle/)
  }, 30_000)

  it('does the same for the metrics listener, when metrics.port is taken', async () => {
    const config = {
      ...testConfig('http://127.0.0.1:9/v1'),
      server: { host: '127.0.0.1', port: 0 },
      metrics: { port: takenPort },
    }
    const { exit, entries, output } = await runUntilExit('metrics-port', config)
    expect(exit.code).toBe(1)
    expect(entries.filter((e) => e['level'] === 60)).toEqual([
      expect.objectContaining({ msg: `cannot listen for metrics on 127.0.0.1:${takenPort}: the port is in use`, code: 'EADDRINUSE' }),
    ])
    expect(output).not.toMatch(/Unhandled 'error' event|setupListenHandle/)
  }, 30_000)
})
