import { beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import {
  at,
  counterKey,
  median,
  type Outcome,
  promptTokens,
  recordFigures,
  send,
  signal,
  tally,
  untilArrivals,
  untilQuiet,
  untilReady,
} from '../helpers/faults.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// Issue 9, fault 1: the budget Redis hangs (SIGSTOP) for two seconds while two replicas take a
// steady stream of budgeted requests. Failing closed, the requests that need Redis meanwhile are
// refused, and afterwards the counter holds exactly what the answered requests used: leases that
// expired during the freeze are settled late, refusals whose reservation ran after all are given
// back. Latencies by phase are recorded, not asserted: on two shared cores they measure the host.

const PREFIX = 'llava-gateway:' // the default cache.keyPrefix
const TEXT = 'Describe the weather in one word.'
const PROMPT = promptTokens(TEXT)
const MAX_TOKENS = 40
const LEASE_MS = 1_000
const FREEZE_MS = 2_000
const REQUESTS = 200
const SPACING_MS = 25 // 200 requests over 5 s: about 60 before the freeze, 80 during, 60 after
const FREEZE_AT = 60 // the freeze starts once this many have been sent
const HELD_AT_FREEZE = 3 // requests admitted and at the backend when Redis stops: their settlements meet the freeze

let redis: RedisServer
let upstream: FakeUpstream
let store: RedisStore
let replicas: Replica[]

beforeAll(async () => {
  ;[redis, upstream] = await Promise.all([startRedis(), FakeUpstream.start()])
  closeAfterFile(upstream)
  store = closeAfterFile(new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log: createLogger('silent') }))
  const config = testConfig(upstream.baseUrl, {
    redis: { url: redis.url }, // the product's default command timeout (50 ms)
    keys: [{ alias: 'load', team: 'load-team', secret: TEST_KEY, budgets: [{ window: 'day', tokens: 10_000_000 }] }],
    budget: { leaseMs: LEASE_MS, whenStoreFails: 'closed' },
  })
  replicas = await Promise.all([0, 1].map(() => startReplica({ config })))
  await Promise.all([ready(store), ...replicas.map((replica) => untilReady(replica))])
}, 30_000)

describe('the budget Redis freezes for 2 s under load', () => {
  it('refuses with 503 while frozen and settles exactly the usage of the 200s', async () => {
    // The backend answers with a different completion length each time, so the sum is not a multiple of anything.
    let gate = Promise.resolve()
    let arrivals = 0
    upstream.handle(async (_call, res) => {
      const completion = 1 + (arrivals++ % 17)
      await gate
      replyJson(
        res,
        200,
        chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion } }),
      )
    })

    const freezeDue = signal()
    let frozenAt = NaN
    let thawedAt = NaN
    const fault = (async () => {
      await freezeDue.promise
      // Hold the next answers, so some admitted requests are at the backend, leases held, when Redis stops.
      const open = signal()
      gate = open.promise
      const before = upstream.calls.length
      await untilArrivals(upstream, before + HELD_AT_FREEZE, { timeoutMs: 5_000, what: 'requests held at the backend' })
      redis.freeze()
      frozenAt = performance.now()
      open.fire() // their answers go out now; their settlements meet a frozen Redis
      gate = Promise.resolve()
      await new Promise((resolve) => setTimeout(resolve, FREEZE_MS)) // the fault's length, not a wait for something
      redis.thaw()
      thawedAt = performance.now()
    })()

    const started = performance.now()
    const outcomes = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        await at(started + i * SPACING_MS)
        if (i === FREEZE_AT) freezeDue.fire()
        return send(replicas[i % 2]!.url, { ...userText(TEXT), max_tokens: MAX_TOKENS })
      }),
    )
    await fault

    const key = counterKey(PREFIX, { team: 'load-team', scope: 'key', name: 'load' }, 'day')
    const counter = await untilQuiet(store, key, 15_000)
    const quietAfterThawMs = performance.now() - thawedAt

    const ok = outcomes.filter((o) => o.status === 200)
    const refused = outcomes.filter((o) => o.status === 503)
    const expected = ok.reduce((sum, o) => sum + o.tokens, 0)
    // Phases by the client's clock: over before the freeze, sent after the thaw, or touching the freeze.
    const before = outcomes.filter((o) => o.sentAt + o.ms < frozenAt)
    const after = outcomes.filter((o) => o.sentAt > thawedAt)
    const during = outcomes.filter((o) => !before.includes(o) && !after.includes(o))
    const summary = (phase: Outcome[]) => ({
      n: phase.length,
      refused503: phase.filter((o) => o.status === 503).length,
      medianMs: Math.round(median(phase.map((o) => o.ms))),
      maxMs: Math.round(Math.max(0, ...phase.map((o) => o.ms))),
    })
    const firstOkAfterThaw = Math.min(...ok.filter((o) => o.sentAt >= thawedAt).map((o) => o.sentAt + o.ms))
    recordFigures('1 freeze Redis 2 s under load', {
      requests: REQUESTS,
      ok: ok.length,
      refused503: refused.length,
      tokensExpected: expected,
      tokensSettled: counter.settled,
      tokensLeaked: counter.settled - expected,
      reservedLeft: counter.reserved,
      longestRequestMs: Math.round(Math.max(...outcomes.map((o) => o.ms))),
      longest503Ms: Math.round(Math.max(0, ...refused.map((o) => o.ms))),
      // Sent while Redis was frozen and admitted all the same: they reached Redis only after the thaw.
      okSentWhileFrozen: ok.filter((o) => o.sentAt >= frozenAt && o.sentAt <= thawedAt).length,
      firstOkAfterThawMs: Math.round(firstOkAfterThaw - thawedAt),
      counterQuietAfterThawMs: Math.round(quietAfterThawMs),
      phases: JSON.stringify({ before: summary(before), during: summary(during), after: summary(after) }),
    })

    expect(tally(outcomes)).toEqual({ 200: ok.length, 503: refused.length }) // nothing but answers and refusals
    expect(refused.every((o) => o.code === 'budget_unavailable')).toBe(true)
    expect(summary(during).refused503).toBeGreaterThan(0) // the freeze was felt
    expect(after.filter((o) => o.status === 200).length).toBeGreaterThan(0) // and recovered from
    expect(upstream.calls).toHaveLength(ok.length) // no refused request reached the backend
    expect(counter).toEqual({ settled: expected, reserved: 0 }) // to the token
  }, 40_000)
})
