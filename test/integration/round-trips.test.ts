import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { buildTestApp, chatRequest, MODEL, TEST_KEY, testConfig } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// The Redis round trips a request costs, counted by Redis itself (MONITOR, on a private server, so
// no other test's traffic is counted): at most 4 for a budgeted cache miss, 1 for a hit.

let redis: RedisServer
let backend: FakeUpstream
let monitor: Redis
let checker: RedisStore
const seen: Array<{ command: string; source: string }> = []
beforeAll(async () => {
  redis = await startRedis()
  backend = await FakeUpstream.start()
  backend.handle((_call, res) =>
    replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })),
  )
  checker = new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log: createLogger('silent') })
  await ready(checker)
  monitor = new Redis(redis.url)
  // Connected first: its ready check (INFO) arriving on the feed as it starts was read by ioredis
  // as a reply to no command ("Command queue state error"), once in a fresh-clone run.
  await monitor.ping()
  const feed = await monitor.monitor()
  // Top-level commands only: what a script runs inside itself shows as "[0 lua]", and is not a round trip.
  feed.on('monitor', (_time: string, args: string[], source: string) => {
    if (!source.includes('lua')) seen.push({ command: (args[0] ?? '').toLowerCase(), source })
  })
})
afterAll(async () => {
  monitor.disconnect()
  await checker.close()
  await backend.close()
  await redis.stop()
})

function gateway(hitsCountTowardUsage = false) {
  const metrics = createMetrics({ defaultMetrics: false })
  const store = new RedisStore({
    url: redis.url,
    commandTimeoutMs: 1_000,
    connectTimeoutMs: 1_000,
    log: createLogger('silent'),
    onRoundTrip: (step, operation) => metrics.storeRoundTrips.inc({ step, operation }),
  })
  const config = testConfig(backend.baseUrl)
  const prefix = `rt:${crypto.randomUUID()}:`
  const built = buildTestApp(
    {
      ...config,
      keys: [{ alias: 'budgeted', team: 'team-a', secret: TEST_KEY, budgets: [{ window: 'day', tokens: 1_000_000 }] }],
      // Leases and locks long enough that no renewal (a per-second cost, not a per-request one)
      // lands inside a counted request, however slow the machine.
      cache: { keyPrefix: prefix, hitsCountTowardUsage, lockTtlMs: 600_000 },
      budget: { leaseMs: 600_000 },
    },
    { store, metrics },
  )
  /** This app's day counter (the tests share one Redis). */
  const dayCounter = async () => (await checker.read(await checker.client.keys(`${prefix}budget*:day:????????`)))[0]
  /** Whether this app's answers are stored (store-and-unlock is one script: stored means unlocked too). */
  const storedAnswers = async () => (await checker.client.keys(`${prefix}cache:v1:{*}`)).length
  return { ...built, store, dayCounter, storedAnswers }
}

/**
 * The commands Redis saw from the gateway's own connection while `act` ran and everything it set
 * off (settlement, stored answers) landed; the test's checks go through a connection of their own.
 */
async function roundTrips(gatewayStore: RedisStore, act: () => Promise<unknown>, settled: () => Promise<boolean>): Promise<string[]> {
  const port = (gatewayStore.client as unknown as { stream: { localPort: number } }).stream.localPort
  await until(async () => ((await monitor.ping()) as string) === 'PONG', { timeoutMs: 1_000, what: 'the monitor' })
  const from = seen.length
  await act()
  await until(settled, { timeoutMs: 5_000, what: 'the request to settle' })
  await monitor.ping() // MONITOR lines are delivered in order: once this one's echo is read, all before it are
  return seen
    .slice(from)
    .filter((line) => line.source.endsWith(`:${port}`) || line.source.endsWith(`:${port}]`))
    .map((line) => line.command)
}

const ask = (text: string) => chatRequest({ model: MODEL, messages: [{ role: 'user', content: text }], temperature: 0, max_tokens: 50 })

describe('Redis round trips per request', () => {
  it('a budgeted cache miss makes at most 4, a hit 1', { timeout: 30_000 }, async () => {
    const { app, store, deps, dayCounter, storedAnswers } = gateway()
    await ready(store)
    await app.request('/v1/chat/completions', ask('warm up the scripts')) // first use loads the Lua scripts
    const settledReservations = async () => (await dayCounter())?.reserved === 0
    // The warm-up's answer is stored after its response: none of its commands may land in the count.
    await until(async () => (await settledReservations()) && (await storedAnswers()) === 1, {
      timeoutMs: 5_000,
      what: 'the warm-up to land',
    })
    const miss = await roundTrips(
      store,
      async () => expect((await app.request('/v1/chat/completions', ask('what is this?'))).status).toBe(200),
      async () => (await settledReservations()) && (await storedAnswers()) === 2, // its answer stored too
    )
    expect(miss.length).toBeLessThanOrEqual(4)
    expect(miss).toEqual(['evalsha', 'evalsha', 'evalsha', 'evalsha']) // lookup+lock, reserve, store+unlock, settle
    const hit = await roundTrips(
      store,
      async () => {
        const res = await app.request('/v1/chat/completions', ask('what is this?'))
        expect(res.headers.get('x-cache')).toBe('HIT')
      },
      settledReservations,
    )
    expect(hit).toEqual(['evalsha'])
    // The gateway's own count agrees: operators see this cost in /metrics.
    expect(await counterSum(deps.metrics.storeRoundTrips, { step: 'cache' })).toBeGreaterThan(0)
  })

  it('charged hits cost one round trip each, and their charges go out together', { timeout: 30_000 }, async () => {
    const { app, store, dayCounter: counter } = gateway(true)
    await ready(store)
    await app.request('/v1/chat/completions', ask('charged'))
    await until(async () => (await counter())?.reserved === 0, { timeoutMs: 5_000, what: 'the first request to settle' })
    const before = (await counter())?.settled ?? 0
    const commands = await roundTrips(
      store,
      async () => {
        for (let i = 0; i < 20; i++) expect((await app.request('/v1/chat/completions', ask('charged'))).headers.get('x-cache')).toBe('HIT')
      },
      async () => ((await counter())?.settled ?? 0) === before + 20 * 15,
    )
    expect(commands.length).toBeLessThanOrEqual(20 + 2) // 20 lookups, and the charges in one or two batches
  })
})
