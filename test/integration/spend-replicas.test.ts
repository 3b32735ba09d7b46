import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { promptTokens, send, signal, tally, untilReady } from '../helpers/faults.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { MODEL, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Money budgets and the usage API on gateway processes sharing one Redis (REDIS_URL): what one
// replica reserves and settles, the other sees; a reloaded limit applies to the usage counted.

const SPENDER = 'sk-spend-replicas-user'
const ADMIN = 'sk-spend-replicas-admin'
const PRICING = { prompt: 1.5, completion: 6, image: 2 } // USD per million tokens
const TEXT = 'What is in the picture?'
const PROMPT = promptTokens(TEXT)
const MAX_TOKENS = 100
const ANSWER = 12
/** Micro-dollars, rounded up as the gateway rounds each request's cost. */
const micros = (prompt: number, completion: number) => Math.ceil(prompt * PRICING.prompt + completion * PRICING.completion)
const WORST = micros(PROMPT, MAX_TOKENS)
const ACTUAL = micros(PROMPT, ANSWER)
const usd = (amount: number) => amount / 1_000_000
const BURST = 40
const FIT = 7

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

type Budgets = NonNullable<NonNullable<ConfigInput['keys']>[number]['budgets']>
/** Each test its own key prefix on the shared Redis: counters start at zero, and the run's cleanup finds them. */
const replicaConfig = (prefix: string, budgets: Budgets): ConfigInput =>
  testConfig(upstream.baseUrl, {
    models: [{ id: MODEL, backend: 'main', pricing: PRICING }],
    redis: { url: inject('redisUrl'), commandTimeoutMs: 1_000 }, // two shared cores: no spurious store timeouts
    cache: { keyPrefix: prefix },
    keys: [
      { alias: 'spender', team: 'spenders', secret: SPENDER, budgets },
      { alias: 'ops', team: 'ops', secret: ADMIN, role: 'admin' },
    ],
  })

type BudgetUsage = { window: string; unit: string; limit: number; used: number; reserved: number; remaining: number }
const usageOf = async (replica: Replica): Promise<BudgetUsage[]> => {
  const res = await fetch(`${replica.url}/v1/usage`, { headers: { authorization: `Bearer ${SPENDER}` } })
  expect(res.status).toBe(200)
  return ((await res.json()) as { key: { budgets: BudgetUsage[] } }).key.budgets
}
/** llava_gateway_spend_usd_total for the spender, from one replica's /metrics. */
const spendOn = async (replica: Replica): Promise<number> => {
  const text = await (await fetch(`${replica.url}/metrics`)).text()
  return text
    .split('\n')
    .filter((line) => line.startsWith('llava_gateway_spend_usd_total{') && line.includes('key_alias="spender"'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0)
}

describe('usd budgets on two replicas sharing Redis', () => {
  it(
    `admit exactly the ${FIT} of ${BURST} concurrent requests whose worst cases fit, and settle each to its cost`,
    { timeout: 60_000 },
    async () => {
      const prefix = `test-budget:spend-${crypto.randomUUID()}:`
      const config = replicaConfig(prefix, [{ window: 'day', usd: usd(FIT * WORST + WORST - 1) }])
      const [a, b] = (await Promise.all([0, 1].map(() => startReplica({ config })))) as [Replica, Replica]
      await Promise.all([untilReady(a), untilReady(b)])

      // Answers wait until every request is decided, so no reservation comes back early and "exactly
      // FIT" does not depend on timing.
      const decided = signal()
      upstream.handle(async (_call, res) => {
        await decided.promise
        replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: ANSWER, total_tokens: PROMPT + ANSWER } }))
      })
      const calls = upstream.calls.length
      let refused = 0
      const body = { ...userText(TEXT), max_tokens: MAX_TOKENS }
      const pending = Array.from({ length: BURST }, async (_, i) => {
        const outcome = await send((i % 2 === 0 ? a : b).url, body, SPENDER)
        if (outcome.status !== 200) refused++
        return outcome
      })
      await until(() => refused + upstream.calls.length - calls >= BURST, { timeoutMs: 20_000, what: 'every request to be decided' })
      // Both replicas read the same counter: the admitted requests' worst cases, all of them.
      for (const replica of [a, b]) expect(await usageOf(replica)).toMatchObject([{ unit: 'usd', used: 0, reserved: usd(FIT * WORST) }])
      decided.fire()
      const outcomes = await Promise.all(pending)
      expect(tally(outcomes)).toEqual({ 200: FIT, 429: BURST - FIT })
      expect(outcomes.filter((o) => o.status === 429).every((o) => o.code === 'budget_exceeded')).toBe(true)

      // Settlements land after the answers, from both processes: polled, as another process's are.
      await until(async () => (await usageOf(b))[0]?.reserved === 0, { timeoutMs: 10_000, what: 'every lease to settle' })
      expect(await usageOf(a)).toMatchObject([
        {
          unit: 'usd',
          limit: usd(FIT * WORST + WORST - 1),
          used: usd(FIT * ACTUAL),
          reserved: 0,
          remaining: usd(FIT * (WORST - ACTUAL) + WORST - 1),
        },
      ])
      // The spend counter, summed over the replicas (however the admitted requests fell between
      // them), is the sum of the requests' costs.
      const [spentA, spentB] = await Promise.all([spendOn(a), spendOn(b)])
      expect(spentA + spentB).toBeCloseTo(usd(FIT * ACTUAL), 12)

      const admin = await fetch(`${b.url}/admin/usage`, { headers: { authorization: `Bearer ${ADMIN}` } })
      expect(await admin.json()).toMatchObject({
        teams: [{ name: 'spenders', keys: [{ alias: 'spender', budgets: [{ unit: 'usd', used: usd(FIT * ACTUAL) }] }] }, { name: 'ops' }],
      })
    },
  )
})

describe('budgets reload with the config', () => {
  it('a changed limit applies at once to the usage already counted, in tokens and in dollars', { timeout: 60_000 }, async () => {
    upstream.handle((_call, res) =>
      replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: ANSWER, total_tokens: PROMPT + ANSWER } })),
    )
    const prefix = `test-budget:spend-${crypto.randomUUID()}:`
    const budgets = (tokens: number, dollars: number): Budgets => [
      { window: 'day', tokens },
      { window: 'month', usd: dollars },
    ]
    const replica = await startReplica({ config: replicaConfig(prefix, budgets(100_000, 1)) })
    await untilReady(replica)
    const ask = () => send(replica.url, { ...userText(TEXT), max_tokens: MAX_TOKENS }, SPENDER)
    const reload = async (next: Budgets) => {
      await replica.rewriteConfig(replicaConfig(prefix, next))
      const res = await fetch(`${replica.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })
      expect(res.status).toBe(200)
    }
    for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(200)
    await until(async () => (await usageOf(replica)).every((b) => b.reserved === 0), { timeoutMs: 10_000, what: 'three settlements' })
    const tokensUsed = 3 * (PROMPT + ANSWER)

    // One token short of the next request's worst case: refused, against the usage counted before the reload.
    await reload(budgets(tokensUsed + PROMPT + MAX_TOKENS - 1, 1))
    expect(await usageOf(replica)).toMatchObject([
      { unit: 'tokens', limit: tokensUsed + PROMPT + MAX_TOKENS - 1, used: tokensUsed, remaining: PROMPT + MAX_TOKENS - 1 },
      { unit: 'usd', limit: 1, used: usd(3 * ACTUAL) },
    ])
    const short = await ask()
    expect(short).toMatchObject({ status: 429, code: 'budget_exceeded' })

    // Exactly enough: admitted.
    await reload(budgets(tokensUsed + PROMPT + MAX_TOKENS, 1))
    expect((await ask()).status).toBe(200)
    await until(async () => (await usageOf(replica)).every((b) => b.reserved === 0), { timeoutMs: 10_000, what: 'the fourth settlement' })

    // The money budget lowered below what the next request may cost: refused in dollars.
    await reload(budgets(1_000_000, usd(4 * ACTUAL + WORST - 1)))
    expect(await usageOf(replica)).toMatchObject([{ unit: 'tokens' }, { unit: 'usd', used: usd(4 * ACTUAL), remaining: usd(WORST - 1) }])
    expect(await ask()).toMatchObject({ status: 429, code: 'budget_exceeded' })
    await reload(budgets(1_000_000, usd(4 * ACTUAL + WORST)))
    expect((await ask()).status).toBe(200)
  })
})
