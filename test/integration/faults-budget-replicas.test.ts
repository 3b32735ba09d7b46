import { beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterKey, promptTokens, recordFigures, send, signal, storeWarnings, tally, untilQuiet, untilReady } from '../helpers/faults.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Issue 9, fault 2: budgets shared by two gateway processes on one healthy redis-server, with the
// product's defaults (50 ms command timeout, 30 s leases). Under a burst, exactly as many requests
// as fit are admitted and nobody is refused for a Redis that answered: no spurious 503. (The cause
// of the 503s this finds is shown on the store alone in faults-busy-loop.test.ts.)

const PREFIX = 'llava-gateway:' // the default cache.keyPrefix
const TEXT = 'What is in the picture?'
const PROMPT = promptTokens(TEXT)
const MAX_TOKENS = 100
const RESERVATION = PROMPT + MAX_TOKENS
const BURST = 300
const FIT = 120

const BURST_KEY = {
  alias: 'burst',
  team: 'burst-team',
  secret: 'sk-faults-burst',
  budgets: [{ window: 'day' as const, tokens: FIT * RESERVATION }],
}
const COUNTER = counterKey(PREFIX, { team: BURST_KEY.team, scope: 'key', name: BURST_KEY.alias }, 'day')
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
    // Product defaults: 50 ms command timeout (the point of this test) and 30 s leases, which the
    // held answers never outlive (leases running out is fault 3's, faults-replica-kill.test.ts).
    redis: { url: redis.url },
    keys: [BURST_KEY],
  })
  const started = await Promise.all([0, 1].map(() => startReplica({ config })))
  a = started[0]!
  b = started[1]!
  await Promise.all([ready(store), untilReady(a), untilReady(b)])
}, 30_000)

describe('two replicas on a healthy Redis', () => {
  it(`admit exactly ${FIT} of ${BURST} concurrent requests, refuse the rest with 429, and never with 503`, async () => {
    // Answers wait until every request is decided: admitted ones have reached the backend, the
    // others have their refusal. Nothing is settled before then, so no budget comes back early and
    // "exactly FIT" does not depend on timing. Each answer then uses its whole reservation.
    const decided = signal()
    upstream.handle(async (_call, res) => {
      await decided.promise
      replyJson(res, 200, chatCompletion({ usage: usage(MAX_TOKENS) }))
    })
    let refusedSoFar = 0
    const body = { ...userText(TEXT), max_tokens: MAX_TOKENS }
    const pending = Array.from({ length: BURST }, async (_, i) => {
      const outcome = await send((i % 2 === 0 ? a : b).url, body, BURST_KEY.secret)
      if (outcome.status !== 200) refusedSoFar++
      return outcome
    })
    await until(() => refusedSoFar + upstream.calls.length >= BURST, {
      timeoutMs: 20_000,
      what: `all ${BURST} requests to be refused or at the backend`,
    })
    // Every admitted request still holds its lease now: one that expired (its replica did not renew
    // it in time) would have let a request past the budget.
    const [atRelease] = await store.read([COUNTER])
    const expiredWhileHeld = await store.client.zcard(`${COUNTER}:late`)
    decided.fire()
    const outcomes = await Promise.all(pending)
    const counter = await untilQuiet(store, COUNTER, 10_000)

    const counts = tally(outcomes)
    recordFigures('2 no spurious refusals on a healthy Redis', {
      requests: BURST,
      budgetFits: FIT,
      ok: counts[200] ?? 0,
      refused429: counts[429] ?? 0,
      refused503: counts[503] ?? 0,
      refused503OnA: outcomes.filter((o, i) => o.status === 503 && i % 2 === 0).length,
      longestRequestMs: Math.round(Math.max(...outcomes.map((o) => o.ms))),
      longest429Ms: Math.round(Math.max(0, ...outcomes.filter((o) => o.status === 429).map((o) => o.ms))),
      reservedAtRelease: atRelease!.reserved,
      leasesExpiredWhileHeld: expiredWhileHeld,
      settled: counter.settled,
      // What the replicas said about their store: the reason behind any 503.
      storeWarnings: JSON.stringify(storeWarnings(a, b)),
    })
    expect(counts).toEqual({ 200: FIT, 429: BURST - FIT })
    expect(counter).toEqual({ settled: FIT * RESERVATION, reserved: 0 })
  }, 40_000)
})
