import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { evictionWarning } from '../../src/store/eviction-check.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterKey, promptTokens, recordFigures, untilQuiet } from '../helpers/faults.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { buildTestApp, chatRequest, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// Issue 9, fault 6: budget counters survive a restart of their Redis. The server runs with exactly
// the persistence arguments docker-compose.yml gives the budget Redis (read from the file, so a
// change there is tested here): usage settled through the gateway is still counted after a clean
// restart and after a kill -9, and the gateway carries on counting once it has reconnected.

const COMPOSE = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url))
const PREFIX = 'llava-gateway:'
const TEXT = 'Name the animal.'
const PROMPT = promptTokens(TEXT)
const COUNTER = counterKey(PREFIX, { team: 'team-a', scope: 'key', name: 'persisted' }, 'day')
const log = createLogger('silent')

let redis: RedisServer
let upstream: FakeUpstream
let composeArgs: string[]

/** The budget Redis's command line in docker-compose.yml, without the program name. */
async function budgetRedisArgs(): Promise<string[]> {
  const compose = parse(await readFile(COMPOSE, 'utf8')) as { services?: { redis?: { command?: unknown } } }
  const command = compose.services?.redis?.command
  if (!Array.isArray(command) || command[0] !== 'redis-server' || !command.every((part) => typeof part === 'string')) {
    throw new Error(`docker-compose.yml: services.redis.command is not a redis-server command line: ${JSON.stringify(command)}`)
  }
  return command.slice(1)
}

beforeAll(async () => {
  composeArgs = await budgetRedisArgs()
  ;[redis, upstream] = await Promise.all([startRedis({ args: composeArgs }), FakeUpstream.start()])
  let completion = 0
  upstream.handle((_call, res) => {
    completion += 3 // 3, 6, 9, ...: each request uses a different amount
    replyJson(
      res,
      200,
      chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion } }),
    )
  })
})
afterAll(() => upstream.close())

/** A fresh connection each time: the server behind it is a new process after every restart. */
async function readCounter(): Promise<{ settled: number; reserved: number; ttlMs: number }> {
  const store = new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log })
  try {
    await ready(store)
    const [state] = await store.read([COUNTER])
    return { ...state!, ttlMs: await store.client.pttl(COUNTER) }
  } finally {
    await store.close()
  }
}

describe("the budget Redis with docker-compose.yml's persistence", () => {
  it('keeps settled usage across a restart and a kill -9, and the gateway counts on after reconnecting', async () => {
    const store = new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log })
    await ready(store)
    const { app } = buildTestApp(
      testConfig(upstream.baseUrl, {
        redis: { url: redis.url },
        keys: [{ alias: 'persisted', team: 'team-a', secret: TEST_KEY, budgets: [{ window: 'day', tokens: 1_000_000 }] }],
      }),
      { store },
    )
    const chat = async () => {
      const res = await app.request('/v1/chat/completions', chatRequest({ ...userText(TEXT), max_tokens: 50 }))
      expect(res.status).toBe(200)
      return ((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens
    }
    let used = 0
    for (let i = 0; i < 5; i++) used += await chat()
    expect(await untilQuiet(store, COUNTER, 5_000)).toEqual({ settled: used, reserved: 0 })
    expect(await evictionWarning(store.client, 1_000)).toBeUndefined() // noeviction: counters are never evicted
    const before = await readCounter()

    let started = performance.now()
    await redis.restart() // SIGTERM: Redis flushes its append-only file and exits; then the same dir again
    const restartMs = performance.now() - started
    const afterRestart = await readCounter()

    await redis.kill() // SIGKILL: no shutdown work at all
    started = performance.now()
    await redis.restart()
    const startAfterKillMs = performance.now() - started
    const afterKill = await readCounter()

    // The gateway's own connection comes back by itself (ioredis reconnects); then it counts again.
    started = performance.now()
    await ready(store)
    const reconnectMs = performance.now() - started
    used += await chat()
    const final = await untilQuiet(store, COUNTER, 5_000)

    recordFigures('6 persistence', {
      redisArgs: composeArgs.join(' '),
      settledBefore: before.settled,
      settledAfterRestart: afterRestart.settled,
      settledAfterKill9: afterKill.settled,
      tokensLost: before.settled - afterKill.settled,
      restartMs: Math.round(restartMs),
      startAfterKillMs: Math.round(startAfterKillMs),
      gatewayReconnectMs: Math.round(reconnectMs),
      settledAtEnd: final.settled,
    })
    expect(afterRestart).toMatchObject({ settled: before.settled, reserved: 0 })
    expect(afterRestart.ttlMs).toBeGreaterThan(0) // still ends with its window
    // Redis write()s its append-only file before it replies, so a killed process (not a lost
    // machine, where `appendfsync everysec` may lose a second) loses nothing it acknowledged.
    expect(afterKill).toMatchObject({ settled: before.settled, reserved: 0 })
    expect(final).toEqual({ settled: used, reserved: 0 })
    await store.close()
  })
})
