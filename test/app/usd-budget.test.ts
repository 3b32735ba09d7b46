import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { countPromptTokens } from '../../src/meter/prompt-tokens.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { png } from '../fixtures/images.js'
import { buildTestApp, chatRequest, MODEL, OTHER_KEY, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// Money budgets: a model's prices (USD per million prompt, completion and image tokens) turn each
// request into micro-dollars; a `usd` budget reserves the worst case and settles to the actual cost.

// Whole micro-dollars per token keep the arithmetic below readable: $1, $4 and $2 per million.
const PRICING = { prompt: 1, completion: 4, image: 2 }
const PROMPT = countPromptTokens([{ role: 'user', content: 'hi' }], {
  template: 'llava-1.5',
  imagePolicy: { policy: 'fixed', tokensPerImage: 576 },
}).total
const MAX_TOKENS = 100
const ANSWER = 10
const WORST = PROMPT * 1 + MAX_TOKENS * 4 // micro-dollars
const ACTUAL = PROMPT * 1 + ANSWER * 4
const usd = (micros: number) => micros / 1_000_000
const ask = () => ({ ...userText('hi'), max_tokens: MAX_TOKENS })
const used = (prompt: number, completion: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
})

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
beforeEach(() => upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(PROMPT, ANSWER) }))))
afterAll(() => upstream.close())

const appWithUsdBudget = (limitMicros: number) =>
  buildTestApp(
    {
      ...testConfig(upstream.baseUrl),
      models: [{ id: MODEL, backend: 'main', pricing: PRICING }],
      keys: [
        { alias: 'priced', team: 'team-a', secret: TEST_KEY, budgets: [{ window: 'day', usd: usd(limitMicros) }] },
        { alias: 'tokens-only', team: 'team-b', secret: OTHER_KEY, budgets: [{ window: 'day', tokens: 1_000_000 }] },
      ],
    },
    { clock: { now: () => Date.parse('2026-11-26T12:00:00Z') } },
  )

const usageOf = async (app: ReturnType<typeof appWithUsdBudget>['app'], key = TEST_KEY) => {
  const res = await app.request('/v1/usage', { headers: { authorization: `Bearer ${key}` } })
  return ((await res.json()) as { key: { budgets: Array<Record<string, unknown>> } }).key.budgets[0]
}

describe('usd budgets', () => {
  it('admits exactly the requests that fit: each reserves its worst case and settles to its actual cost', async () => {
    // Room for two settled requests and one more worst case: the third fits, the fourth does not.
    const limit = 2 * ACTUAL + WORST
    const { app, deps } = appWithUsdBudget(limit)
    const calls = upstream.calls.length
    for (let i = 1; i <= 3; i++) expect((await app.request('/v1/chat/completions', chatRequest(ask()))).status, `request ${i}`).toBe(200)
    const refused = await app.request('/v1/chat/completions', chatRequest(ask()))
    const error = await errorOf(refused, 429, 'budget_exceeded')
    expect(error.message).toContain(`has used $${usd(3 * ACTUAL)} of its $${usd(limit)} this day`)
    expect(error.message).toContain(`may cost up to $${usd(WORST)}`)
    expect(upstream.calls.length - calls).toBe(3) // refused before the backend

    expect(await usageOf(app)).toEqual({
      window: 'day',
      unit: 'usd',
      limit: usd(limit),
      used: usd(3 * ACTUAL),
      reserved: 0,
      remaining: usd(limit - 3 * ACTUAL),
      resets_at: Date.parse('2026-11-27T00:00:00Z') / 1000,
    })
    // The spend counter is the sum of what each request cost.
    expect(await counterSum(deps.metrics.spendUsd, { key_alias: 'priced', team: 'team-a' })).toBeCloseTo(usd(3 * ACTUAL), 12)
  })

  it('reserves the worst case while requests run: concurrent ones are admitted only as far as their worst cases fit', async () => {
    const limit = 3 * WORST + WORST - 1
    const { app } = appWithUsdBudget(limit)
    const held = upstream.holdAnswers((res) => replyJson(res, 200, chatCompletion({ usage: used(PROMPT, ANSWER) })))
    const calls = upstream.calls.length
    const sent = Array.from({ length: 6 }, async () => app.request('/v1/chat/completions', chatRequest(ask())))
    await upstream.untilCalls(calls + 3)
    expect(await usageOf(app)).toMatchObject({ used: 0, reserved: usd(3 * WORST), remaining: usd(WORST - 1) })
    held.release()
    const statuses = (await Promise.all(sent)).map((res) => res.status).sort()
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429])
    expect(await usageOf(app)).toMatchObject({ used: usd(3 * ACTUAL), reserved: 0 })
  })

  it('prices image tokens apart from the text of the prompt', async () => {
    const { app, deps } = appWithUsdBudget(1_000_000)
    const imagePrompt = 576 + PROMPT + 20 // the backend reports image and text together
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(imagePrompt, ANSWER) })))
    const body = {
      model: MODEL,
      max_tokens: MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png(336, 336).toString('base64')}` } },
            { type: 'text', text: 'What is in this image?' },
          ],
        },
      ],
    }
    expect((await app.request('/v1/chat/completions', chatRequest(body))).status).toBe(200)
    const cost = 576 * PRICING.image + (imagePrompt - 576) * PRICING.prompt + ANSWER * PRICING.completion
    expect(await usageOf(app)).toMatchObject({ used: usd(cost), reserved: 0 })
    expect(await counterSum(deps.metrics.spendUsd, { key_alias: 'priced' })).toBeCloseTo(usd(cost), 12)
  })

  it('counts spend for keys without a usd budget too, at the same prices', async () => {
    const { app, deps } = appWithUsdBudget(1_000_000)
    for (let i = 0; i < 2; i++) expect((await app.request('/v1/chat/completions', chatRequest(ask(), OTHER_KEY))).status).toBe(200)
    expect(await counterSum(deps.metrics.spendUsd, { key_alias: 'tokens-only', team: 'team-b', model: MODEL })).toBeCloseTo(
      usd(2 * ACTUAL),
      12,
    )
    expect(await usageOf(app, OTHER_KEY)).toMatchObject({ unit: 'tokens', used: 2 * (PROMPT + ANSWER) })
  })
})
