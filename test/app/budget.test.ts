import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { openAiDuration } from '../../src/budget/rate-limit-headers.js'
import { countPromptTokens } from '../../src/meter/prompt-tokens.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, chatRequest, OTHER_KEY, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// Per-key token budgets: reserved atomically before the backend works, settled to actual usage.

const PROMPT = countPromptTokens([{ role: 'user', content: 'hi' }], {
  template: 'llava-1.5',
  imagePolicy: { policy: 'fixed', tokensPerImage: 576 },
}).total
const ask = (maxTokens: number, extra: Record<string, unknown> = {}) => ({ ...userText('hi'), max_tokens: maxTokens, ...extra })
const used = (total: number) => ({ prompt_tokens: PROMPT, completion_tokens: total - PROMPT, total_tokens: total })

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
beforeEach(() => {
  upstream.calls.length = 0
  upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(50) })))
})
afterAll(() => upstream.close())

function appWith(
  budgets: ConfigInput['keys'] extends Array<infer K> | undefined ? (K extends { budgets?: infer B } ? B : never) : never,
  clock = { now: () => Date.parse('2026-11-26T12:00:00Z') },
  extra: Partial<ConfigInput> = {},
) {
  return buildTestApp(
    {
      ...testConfig(upstream.baseUrl),
      keys: [
        { alias: 'limited', team: 'team-a', secret: TEST_KEY, budgets },
        { alias: 'unlimited', team: 'team-b', secret: OTHER_KEY },
      ],
      ...extra,
    },
    { clock },
  )
}

describe('token budgets', () => {
  it('refuses a request whose reservation would pass the budget, before the backend sees it', async () => {
    const { app, deps } = appWith([{ window: 'day', tokens: 100 }])
    const res = await app.request('/v1/chat/completions', chatRequest(ask(200)))
    expect(res.status).toBe(429)
    const error = await errorOf(res)
    expect(error.code).toBe('budget_exceeded')
    expect(error.message).toContain('0 of its 100 tokens this day')
    expect(error.message).toContain(`may need ${PROMPT + 200} (its prompt plus its max_tokens)`)
    expect(res.headers.get('retry-after')).toBe(String(12 * 3600)) // midnight UTC
    expect(res.headers.get('x-should-retry')).toBe('false')
    expect(upstream.calls).toHaveLength(0)
    expect(await counterSum(deps.metrics.budgetRejections, { key_alias: 'limited', window: 'day' })).toBe(1)
  })

  it('sends max_tokens budget.defaultCompletionTokens for a budgeted request that sets none, and says so when it refuses', async () => {
    const { app } = appWith([{ window: 'day', tokens: 5_000 }])
    expect((await app.request('/v1/chat/completions', chatRequest(userText('hi')))).status).toBe(200)
    expect(upstream.calls[0]?.body['max_tokens']).toBe(1024)
    // A request that sets its own limit is sent as it is.
    expect((await app.request('/v1/chat/completions', chatRequest(ask(70)))).status).toBe(200)
    expect((await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), max_completion_tokens: 60 }))).status).toBe(200)
    expect(upstream.calls.slice(1).map((call) => [call.body['max_tokens'], call.body['max_completion_tokens']])).toEqual([
      [70, undefined],
      [undefined, 60],
    ])
    // A key without a budget has nothing to protect: its answer is not capped.
    expect((await app.request('/v1/chat/completions', chatRequest(userText('hi'), OTHER_KEY))).status).toBe(200)
    expect(upstream.calls[3]?.body).not.toHaveProperty('max_tokens')

    const { app: small } = appWith([{ window: 'day', tokens: 100 }])
    const error = await errorOf(await small.request('/v1/chat/completions', chatRequest(userText('hi'))), 429, 'budget_exceeded')
    expect(error.message).toContain(
      `may need ${PROMPT + 1024} (its prompt plus 1024 for the answer; the request sets no max_tokens, so the gateway sends max_tokens 1024: budget.defaultCompletionTokens`,
    )
  })

  it('caps at what the context window leaves when that is less than budget.defaultCompletionTokens', async () => {
    const long = 'word '.repeat(3_500)
    const prompt = countPromptTokens([{ role: 'user', content: long }], {
      template: 'llava-1.5',
      imagePolicy: { policy: 'fixed', tokensPerImage: 576 },
    }).total
    const { app, deps } = appWith([{ window: 'day', tokens: 10_000 }])
    const room = (deps.config.models[0]?.contextWindow ?? 0) - prompt
    expect(room).toBeGreaterThan(0)
    expect(room).toBeLessThan(1024)
    expect((await app.request('/v1/chat/completions', chatRequest(userText(long)))).status).toBe(200)
    expect(upstream.calls[0]?.body['max_tokens']).toBe(room)
  })

  it('keeps concurrent budgeted requests without max_tokens within the budget, however long the backend would write', async () => {
    // A backend that writes until max_tokens, or 3,000 tokens when it is not given one.
    upstream.handle((call, res) => {
      const written = typeof call.body['max_tokens'] === 'number' ? call.body['max_tokens'] : 3_000
      replyJson(res, 200, chatCompletion({ usage: used(PROMPT + written) }))
    })
    const { app } = appWith([{ window: 'day', tokens: 5_000 }])
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => (await app.request('/v1/chat/completions', chatRequest(userText('hi')))).status),
    )
    const admitted = statuses.filter((status) => status === 200).length
    expect(admitted).toBe(Math.floor(5_000 / (PROMPT + 1024)))
    expect(statuses.filter((status) => status === 429)).toHaveLength(12 - admitted)
    const usage = (await (await app.request('/v1/usage', { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as {
      key: { budgets: Array<{ used: number; reserved: number }> }
    }
    expect(usage.key.budgets[0]).toMatchObject({ used: admitted * (PROMPT + 1024), reserved: 0 })
    expect(usage.key.budgets[0]?.used).toBeLessThanOrEqual(5_000)
  })

  it('settles to the actual usage, so the unused part of a reservation is spent again', async () => {
    const { app } = appWith([{ window: 'day', tokens: 1000 }])
    // Reserves PROMPT + 900 and spends 50; a second one fits only because the first gave back the rest.
    expect((await app.request('/v1/chat/completions', chatRequest(ask(900)))).status).toBe(200)
    expect((await app.request('/v1/chat/completions', chatRequest(ask(900)))).status).toBe(200)
    const third = await app.request('/v1/chat/completions', chatRequest(ask(900)))
    expect(third.status).toBe(429)
    expect((await errorOf(third)).message).toContain('100 of its 1000 tokens')
  })

  it('gives the whole reservation back when the backend fails', async () => {
    const { app } = appWith([{ window: 'day', tokens: 1000 }])
    upstream.handle((_call, res) => replyJson(res, 500, { error: { message: 'boom', type: 'server_error' } }))
    for (let i = 0; i < 3; i++) expect((await app.request('/v1/chat/completions', chatRequest(ask(900)))).status).toBe(500)
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(50) })))
    expect((await app.request('/v1/chat/completions', chatRequest(ask(900)))).status).toBe(200)
  })

  it('settles a stream at its end, with the usage it reports', async () => {
    const { app } = appWith([{ window: 'day', tokens: 1000 }])
    upstream.handle((_call, res) => replySse(res, completionChunks(['fine'], used(400))))
    await (await app.request('/v1/chat/completions', chatRequest(ask(500, { stream: true })))).text()
    await (await app.request('/v1/chat/completions', chatRequest(ask(500, { stream: true })))).text()
    const third = await app.request('/v1/chat/completions', chatRequest(ask(250, { stream: true })))
    expect(third.status).toBe(429)
    expect((await errorOf(third)).message).toContain('800 of its 1000 tokens')
  })

  it('opens a new window when the old one ends', async () => {
    let now = Date.parse('2026-11-26T12:00:30Z')
    const { app } = appWith([{ window: 'minute', tokens: 200 }], { now: () => now })
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100)))).status).toBe(200)
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(190) })))
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100)))).status).toBe(200)
    const refused = await app.request('/v1/chat/completions', chatRequest(ask(100)))
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('30')
    expect(refused.headers.get('x-should-retry')).toBeNull() // within a minute: let the SDK wait and retry
    now = Date.parse('2026-11-26T12:01:00Z')
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100)))).status).toBe(200)
  })

  it('checks every window of the key and names the one that refused', async () => {
    const { app, deps } = appWith([
      { window: 'month', tokens: 100_000 },
      { window: 'hour', tokens: 300 },
    ])
    const res = await app.request('/v1/chat/completions', chatRequest(ask(400)))
    expect(res.status).toBe(429)
    expect((await errorOf(res)).message).toContain('tokens this hour')
    expect(await counterSum(deps.metrics.budgetRejections, { window: 'hour' })).toBe(1)
  })

  it('reports the tightest window in OpenAI’s rate-limit headers', async () => {
    const { app } = appWith([
      { window: 'month', tokens: 100_000 },
      { window: 'hour', tokens: 5_000 },
    ])
    const res = await app.request('/v1/chat/completions', chatRequest(ask(100)))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('5000')
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe(String(5000 - PROMPT - 100)) // after this reservation
    expect(res.headers.get('x-ratelimit-reset-tokens')).toBe('1h0m0s') // it is 12:00:00
  })

  it('keeps its own rate-limit headers when the backend sends the upstream account’s', async () => {
    const { app } = appWith([{ window: 'hour', tokens: 5_000 }])
    upstream.handle((_call, res) =>
      replyJson(res, 200, chatCompletion({ usage: used(50) }), {
        'x-ratelimit-limit-tokens': '777777',
        'x-ratelimit-remaining-tokens': '123456',
      }),
    )
    const res = await app.request('/v1/chat/completions', chatRequest(ask(100)))
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('5000')
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe(String(5000 - PROMPT - 100))
  })

  it('formats durations as OpenAI does', () => {
    expect([openAiDuration(0), openAiDuration(42_000), openAiDuration(360_000), openAiDuration(3_723_000), openAiDuration(1)]).toEqual([
      '0s',
      '42s',
      '6m0s',
      '1h2m3s',
      '1s',
    ])
  })

  it('lets a key without budgets through, whatever it reserves', async () => {
    const { app } = appWith([{ window: 'day', tokens: 10 }])
    expect((await app.request('/v1/chat/completions', chatRequest(ask(3_000), OTHER_KEY))).status).toBe(200) // 300x the other key's budget
  })

  it('never lets concurrent requests overspend: exactly as many as fit get through', async () => {
    const reservation = PROMPT + 90
    const fit = Math.floor(1000 / reservation)
    const { release } = upstream.holdAnswers((res) => replyJson(res, 200, chatCompletion({ usage: used(reservation) })))
    const { app } = appWith([{ window: 'day', tokens: 1000 }])
    const all = Array.from({ length: 20 }, async () => app.request('/v1/chat/completions', chatRequest(ask(90))))
    await upstream.untilCalls(fit)
    release()
    const statuses = (await Promise.all(all)).map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(fit)
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - fit)
    expect(upstream.calls).toHaveLength(fit)
  })

  it('does not charge cache hits by default, and charges them when config says so', async () => {
    const cached = (hitsCountTowardUsage: boolean) =>
      appWith([{ window: 'day', tokens: 1000 }], undefined, {
        cache: { hitsCountTowardUsage, keyPrefix: `p${String(hitsCountTowardUsage)}:` },
      })
    const request = ask(400, { temperature: 0 })
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(400) })))
    const free = cached(false)
    for (let i = 0; i < 3; i++) expect((await free.app.request('/v1/chat/completions', chatRequest(request))).status).toBe(200)
    // Charged: the miss spends 400, the hit 400 more; a new request reserving PROMPT + 400 no longer fits.
    const paid = cached(true)
    await paid.app.request('/v1/chat/completions', chatRequest(request))
    const hit = await paid.app.request('/v1/chat/completions', chatRequest(request))
    expect(hit.headers.get('x-cache')).toBe('HIT')
    expect((await paid.app.request('/v1/chat/completions', chatRequest({ ...request, temperature: 0.5 }))).status).toBe(429)
  })
})

describe('budget config', () => {
  it('refuses two budgets for the same window of one key', () => {
    expect(() =>
      appWith([
        { window: 'day', tokens: 10 },
        { window: 'day', tokens: 20 },
      ]),
    ).toThrow(/keys\[0\]\.budgets: one budget per window/)
  })
})

describe('team budgets', () => {
  it('are shared by every key of the team, on top of each key’s own', async () => {
    const { app, deps } = buildTestApp({
      ...testConfig(upstream.baseUrl),
      keys: [
        { alias: 'a1', team: 'vision', secret: TEST_KEY },
        { alias: 'a2', team: 'vision', secret: OTHER_KEY },
      ],
      teams: [{ name: 'vision', budgets: [{ window: 'day', tokens: 1000 }] }],
    })
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(600) })))
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100), TEST_KEY))).status).toBe(200)
    const other = await app.request('/v1/chat/completions', chatRequest(ask(500), OTHER_KEY))
    expect(other.status).toBe(429)
    expect((await errorOf(other)).message).toContain('Team "vision" has used 600 of its 1000 tokens this day')
    expect(await counterSum(deps.metrics.budgetRejections, { key_alias: 'a2', scope: 'team' })).toBe(1)
  })

  it('refuses a config naming one team twice', () => {
    expect(() => buildTestApp({ ...testConfig(upstream.baseUrl), teams: [{ name: 't' }, { name: 't' }] })).toThrow(
      /teams\[1\]\.name: duplicate team "t"/,
    )
  })
})
