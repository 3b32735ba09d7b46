import { beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import {
  counterKey,
  promptTokens,
  recordFigures,
  send,
  signal,
  untilArrivals,
  untilQuiet,
  untilReady,
  type Outcome,
} from '../helpers/faults.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Issue 9, fault 3: a replica killed with -9 while holding reservations. Nothing settles them; its
// leases stop being renewed and expire within one lease, by Redis's clock, and the budget is whole
// again for the other replica.

const PREFIX = 'llava-gateway:' // the default cache.keyPrefix
const TEXT = 'What is in the picture?'
const PROMPT = promptTokens(TEXT)
const MAX_TOKENS = 100
const RESERVATION = PROMPT + MAX_TOKENS
const LEASE_MS = 1_000
const HELD = 20 // reservations replica A holds when it is killed

const HELD_KEY = {
  alias: 'held',
  team: 'held-team',
  secret: 'sk-faults-held',
  budgets: [{ window: 'day' as const, tokens: HELD * RESERVATION }],
}
const COUNTER = counterKey(PREFIX, { team: HELD_KEY.team, scope: 'key', name: HELD_KEY.alias }, 'day')
const usage = (completion: number) => ({ prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion })

let redis: RedisServer
let upstream: FakeUpstream
let store: RedisStore
let a: Replica
let b: Replica

beforeAll(async () => {
  ;[redis, upstream] = await Promise.all([startRedis(), FakeUpstream.start()])
  closeAfterFile(upstream)
  store = closeAfterFile(new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log: createLogger('silent') }))
  const config = testConfig(upstream.baseUrl, {
    // A wide command timeout: at the product's 50 ms, a burst of requests on a replica draws
    // spurious 503s (faults-budget-replicas.test.ts), and this test needs all 20 admitted.
    redis: { url: redis.url, commandTimeoutMs: 1_000 },
    keys: [HELD_KEY],
    budget: { leaseMs: LEASE_MS, whenStoreFails: 'closed' },
  })
  const started = await Promise.all([0, 1].map(() => startReplica({ config })))
  a = started[0]!
  b = started[1]!
  await Promise.all([ready(store), untilReady(a), untilReady(b)])
}, 30_000)

describe('a replica killed with -9', () => {
  it('gives back the reservations of a replica killed with -9 within one lease', async () => {
    const held = signal()
    upstream.handle(async (_call, res) => {
      await held.promise
      replyJson(res, 200, chatCompletion({ usage: usage(MAX_TOKENS) }))
    })
    upstream.calls.length = 0
    const body = { ...userText(TEXT), max_tokens: MAX_TOKENS }
    // A's clients lose their connections when A dies: their requests end in a network error.
    const onA = Array.from({ length: HELD }, () => send(a.url, body, HELD_KEY.secret).catch((err: unknown) => err))
    await untilArrivals(upstream, HELD, { timeoutMs: 15_000, what: `${HELD} requests on A at the backend` })
    expect(await store.read([COUNTER])).toEqual([{ settled: 0, reserved: HELD * RESERVATION }]) // the whole budget, held by A
    const whole = { ...userText(TEXT), max_tokens: HELD * RESERVATION - PROMPT }
    expect((await send(b.url, whole, HELD_KEY.secret)).status).toBe(429)

    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: usage(7) })))
    const killedAt = performance.now()
    expect(await a.kill('SIGKILL')).toBeNull()
    held.fire() // A's answers have nowhere to go now

    // Two clocks from the kill: Redis's counter empty again, and B admitting a request that needs all of it.
    let freedMs = NaN
    const freed = until(
      async () => {
        const [state] = await store.read([COUNTER])
        if (state?.reserved !== 0) return false
        freedMs = performance.now() - killedAt
        return true
      },
      { timeoutMs: 5 * LEASE_MS, what: "A's reservations to expire", intervalMs: 10 },
    )
    let admitted: Outcome | undefined
    let refusalsMeanwhile = 0
    const admittedOnB = until(
      async () => {
        const outcome = await send(b.url, whole, HELD_KEY.secret)
        if (outcome.status === 200) admitted = outcome
        else if (outcome.status === 429) refusalsMeanwhile++
        else throw new Error(`B answered ${outcome.status} ${outcome.code ?? ''}`)
        return admitted !== undefined
      },
      { timeoutMs: 5 * LEASE_MS, what: 'B to admit a request needing the whole budget', intervalMs: 10 },
    )
    await Promise.all([freed, admittedOnB])
    const admittedMs = admitted!.sentAt + admitted!.ms - killedAt
    const aClients = await Promise.all(onA)
    const counter = await untilQuiet(store, COUNTER, 5_000, { late: HELD }) // A's leases expired unsettled, and stay so

    recordFigures('3 kill -9 of a replica holding reservations', {
      leaseMs: LEASE_MS,
      heldReservations: HELD,
      reservedTokens: HELD * RESERVATION,
      reservedFreedAfterKillMs: Math.round(freedMs),
      wholeBudgetAdmittedOnBAfterKillMs: Math.round(admittedMs),
      refusalsOnBMeanwhile: refusalsMeanwhile,
      settledAfter: counter.settled,
    })
    expect(aClients.every((r) => r instanceof Error)).toBe(true) // none of A's requests was answered
    // A's leases were renewed at most when it died, so they end by then + one lease; the margin is
    // one read's round trip and the polling interval on two shared cores.
    expect(freedMs).toBeLessThanOrEqual(LEASE_MS + 500)
    expect(admittedMs).toBeLessThanOrEqual(LEASE_MS + 500)
    // A's requests died unsettled and cost nothing; B's whole-budget request settled at its usage.
    expect(counter).toEqual({ settled: PROMPT + 7, reserved: 0 })
  }, 30_000)
})
