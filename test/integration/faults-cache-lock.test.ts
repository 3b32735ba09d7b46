import { beforeAll, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { createLogger } from '../../src/lib/logger.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { recordFigures, send, signal, untilArrivals, untilReady } from '../helpers/faults.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Issue 9, fault 4: the cache lock that lets one replica ask the backend for all is a short lease.
// Whatever happens to its holder (killed with -9, or its claim's reply lost on the way back), a
// request on another replica waits at most one lease before it asks the backend itself.

const LOCK_TTL_MS = 1_000
const POLL_MS = 50
// Replica A talks to Redis through a TCP proxy (B directly), so the test can lose A's replies: the
// proxy delays A's traffic so the test can cut the link after A's SET NX has landed and before its
// reply is back. A's command timeout is longer than the product's so its cache read, delayed both
// ways, still answers: a read that timed out would leave A's SET NX queued behind it in ioredis's
// auto-pipeline, sent together with A's own release (DEL by token), and nothing would be lost.
const A_COMMAND_TIMEOUT_MS = 500
const PROXY_DELAY_MS = 150
const usage = { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 }

let redis: RedisServer
let upstream: FakeUpstream
let proxy: TcpProxy
let store: RedisStore
let a: Replica
let b: Replica

beforeAll(async () => {
  ;[redis, upstream] = await Promise.all([startRedis(), FakeUpstream.start()])
  closeAfterFile(upstream)
  proxy = await startTcpProxy({ port: redis.port })
  store = closeAfterFile(new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log: createLogger('silent') }))
  const config = (redisConfig: ConfigInput['redis']) =>
    testConfig(upstream.baseUrl, { redis: redisConfig, cache: { lockTtlMs: LOCK_TTL_MS, pollMs: POLL_MS } })
  const started = await Promise.all([
    startReplica({ config: config({ url: proxy.url(), commandTimeoutMs: A_COMMAND_TIMEOUT_MS }) }),
    startReplica({ config: config({ url: redis.url }) }),
  ])
  a = started[0]
  b = started[1]
  await Promise.all([ready(store), untilReady(a), untilReady(b)])
}, 30_000)

/** Identical deterministic requests (temperature 0) share one cache key, so one lock. */
const ask = (text: string) => ({ ...userText(text), temperature: 0 })
const lockKeys = () => store.client.keys('*:lock')

describe('a cache-lock holder that cannot finish', () => {
  it("lets the other replica go ahead within one lease when the claim's reply is lost", async () => {
    upstream.calls.length = 0
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'Answered.', usage })))
    proxy.delay(PROXY_DELAY_MS)
    const onA = send(a.url, ask('Which colour is the llama?'))
    // A's SET NX lands in Redis while its reply is still in the proxy: cut A off from Redis there.
    await until(async () => (await lockKeys()).length === 1, { timeoutMs: 5_000, what: "A's lock to land in Redis", intervalMs: 2 })
    proxy.refuse(true) // A cannot reconnect, so its release (DEL by token, retried a few times) cannot land either
    proxy.cut()
    const [lockKey] = await lockKeys()
    const lockLeftMs = lockKey ? await store.client.pttl(lockKey) : -2
    const onB = await send(b.url, ask('Which colour is the llama?'))
    const fromA = await onA
    proxy.refuse(false)
    proxy.delay(0)

    recordFigures('4b cache-lock claim reply lost', {
      lockTtlMs: LOCK_TTL_MS,
      pollMs: POLL_MS,
      lockLeftWhenBAskedMs: lockLeftMs, // -2: the lock was gone already
      bWaitMs: Math.round(onB.ms),
      bCache: onB.cache ?? 'none',
      aStatus: fromA.status,
      aWaitMs: Math.round(fromA.ms),
      backendCalls: upstream.calls.length,
    })
    expect(lockLeftMs).toBeGreaterThan(0) // the worst case was tested: the lock outlived A's claim
    expect(onB.status).toBe(200)
    expect(onB.cache).toBe('MISS') // B asked the backend itself once the lock ran out
    expect(fromA.status).toBe(200) // A went on without the cache
    expect(onB.ms).toBeLessThanOrEqual(LOCK_TTL_MS + POLL_MS + 500) // margin: B's own request on two shared cores
  })

  // Runs last in this file: it kills replica A.
  it('lets the other replica take over within one lease when the leader is killed with -9', async () => {
    proxy.refuse(false) // in case the test before failed half-way
    proxy.delay(0)
    await untilReady(a) // A's connection through the proxy works again
    await store.client.flushall()
    upstream.calls.length = 0
    const never = signal() // the leader's backend call never ends: the leader dies first
    upstream.handle(async (_call, res) => {
      if (upstream.calls.length === 1) await never.promise
      replyJson(res, 200, chatCompletion({ content: 'Answered after the leader died.', usage }))
    })
    const onA = send(a.url, ask('How many llamas are there?')).catch((err: unknown) => err)
    await untilArrivals(upstream, 1, { timeoutMs: 5_000, what: "A's backend call, lock held" })
    const onB = send(b.url, ask('How many llamas are there?'))
    const killedAt = performance.now()
    expect(await a.kill('SIGKILL')).toBeNull()
    const fromB = await onB
    const afterKillMs = fromB.sentAt + fromB.ms - killedAt
    never.fire()

    recordFigures('4a cache-lock leader killed', {
      lockTtlMs: LOCK_TTL_MS,
      pollMs: POLL_MS,
      bWaitMs: Math.round(fromB.ms),
      bAnsweredAfterKillMs: Math.round(afterKillMs),
      bCache: fromB.cache ?? 'none',
      backendCalls: upstream.calls.length,
    })
    expect(await onA).toBeInstanceOf(Error) // A's client lost its connection
    expect(fromB.status).toBe(200)
    expect(fromB.cache).toBe('MISS')
    expect(upstream.calls).toHaveLength(2) // the dead leader's call, and B's own
    // The lock was renewed at most when A died: it is gone one lease later, B sees that within a poll.
    expect(afterKillMs).toBeLessThanOrEqual(LOCK_TTL_MS + POLL_MS + 500)
  })
})
