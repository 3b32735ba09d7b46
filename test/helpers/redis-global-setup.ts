import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
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
    // A Redis we were given is someone else's: leave it as we found it. Every integration test
    // writes under `test:` or `test-budget:` (the fault suite uses private servers of its own).
    return () => deleteTestKeys(given)
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

/** Deletes every key under the test prefixes, a batch at a time (SCAN, never KEYS on a shared server). */
async function deleteTestKeys(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    for (const pattern of ['test:*', 'test-budget:*']) {
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
        if (keys.length > 0) await client.del(...keys)
        cursor = next
      } while (cursor !== '0')
    }
  } finally {
    client.disconnect()
  }
}
