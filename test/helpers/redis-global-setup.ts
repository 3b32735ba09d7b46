import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
  }
}

/**
 * Integration tests need a real redis-server. CI (.ci/run) starts one and sets REDIS_URL; a
 * developer without REDIS_URL gets a private one on a free loopback port, started here and
 * stopped after the run. No redis-server at all is a failure with a clear message, never a skip.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env['REDIS_URL']
  if (given) {
    project.provide('redisUrl', given)
    return async () => undefined
  }
  const port = await freePort()
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  await waitUntilReady(child)
  project.provide('redisUrl', `redis://127.0.0.1:${port}`)
  return async () => {
    child.kill('SIGTERM')
  }
}

function waitUntilReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', (err) =>
      reject(new Error(`integration tests need redis-server on PATH or REDIS_URL set (${err.message}); .ci/run installs it`)),
    )
    child.stdout?.on('data', (data: Buffer) => {
      if (data.toString().includes('Ready to accept connections')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`)))
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}
