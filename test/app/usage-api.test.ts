import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { countPromptTokens } from '../../src/meter/prompt-tokens.js'
import { sha256Hex } from '../../src/lib/sha256.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, OTHER_KEY, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// GET /v1/usage (the caller's own budgets and its team's), GET /admin/keys and GET /admin/usage:
// read from the counters the budget step reserves against, so they show exactly what it charged.

const ADMIN_KEY = 'sk-test-admin-key'
const NOW = Date.parse('2026-11-26T12:00:30Z')
const END_OF_DAY = Date.parse('2026-11-27T00:00:00Z') / 1000
const END_OF_MONTH = Date.parse('2026-12-01T00:00:00Z') / 1000
const PROMPT = countPromptTokens([{ role: 'user', content: 'hi' }], {
  template: 'llava-1.5',
  imagePolicy: { policy: 'fixed', tokensPerImage: 576 },
}).total
const ask = (maxTokens: number) => ({ ...userText('hi'), max_tokens: maxTokens })
const used = (completion: number) => ({ prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion })

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
beforeEach(() => upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(40) }))))
afterAll(() => upstream.close())

const appWithBudgets = () =>
  buildTestApp(
    {
      ...testConfig(upstream.baseUrl),
      keys: [
        { alias: 'limited', team: 'team-a', secret: TEST_KEY, budgets: [{ window: 'day', tokens: 10_000 }] },
        { alias: 'free', team: 'team-b', secret: OTHER_KEY },
        { alias: 'ops', team: 'team-a', secret: ADMIN_KEY, role: 'admin', models: ['llava-hf/llava-1.5-7b-hf'] },
      ],
      teams: [{ name: 'team-a', budgets: [{ window: 'month', tokens: 50_000 }] }],
    },
    { clock: { now: () => NOW } },
  )

const get = (key: string | null) => ({ method: 'GET', headers: key === null ? {} : { authorization: `Bearer ${key}` } })
const usageOf = async (app: ReturnType<typeof appWithBudgets>['app'], key = TEST_KEY) => {
  const res = await app.request('/v1/usage', get(key))
  expect(res.status).toBe(200)
  return (await res.json()) as { key: { budgets: Array<Record<string, number>> }; team: { budgets: Array<Record<string, number>> } }
}

describe('GET /v1/usage', () => {
  it("shows the key's and its team's budgets, growing by exactly what each request was charged", async () => {
    const { app } = appWithBudgets()
    expect(await usageOf(app)).toEqual({
      object: 'usage',
      key: {
        alias: 'limited',
        team: 'team-a',
        budgets: [{ window: 'day', unit: 'tokens', limit: 10_000, used: 0, reserved: 0, remaining: 10_000, resets_at: END_OF_DAY }],
      },
      team: {
        name: 'team-a',
        budgets: [{ window: 'month', unit: 'tokens', limit: 50_000, used: 0, reserved: 0, remaining: 50_000, resets_at: END_OF_MONTH }],
      },
    })

    // While the backend works, the worst case is reserved; once it has answered, the reservation
    // is gone and `used` holds exactly the tokens the backend reported.
    const held = upstream.holdAnswers((res) => replyJson(res, 200, chatCompletion({ usage: used(40) })))
    const calls = upstream.calls.length
    const pending = app.request('/v1/chat/completions', chatRequest(ask(500)))
    await upstream.untilCalls(calls + 1)
    const during = await usageOf(app)
    expect(during.key.budgets[0]).toMatchObject({ used: 0, reserved: PROMPT + 500, remaining: 10_000 - PROMPT - 500 })
    expect(during.team.budgets[0]).toMatchObject({ used: 0, reserved: PROMPT + 500 })
    held.release()
    expect((await pending).status).toBe(200)

    const after = await usageOf(app)
    expect(after.key.budgets[0]).toMatchObject({ used: PROMPT + 40, reserved: 0, remaining: 10_000 - PROMPT - 40 })
    expect(after.team.budgets[0]).toMatchObject({ used: PROMPT + 40, reserved: 0, remaining: 50_000 - PROMPT - 40 })

    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ usage: used(7) })))
    expect((await app.request('/v1/chat/completions', chatRequest(ask(500)))).status).toBe(200)
    const twice = await usageOf(app)
    expect(twice.key.budgets[0]).toMatchObject({ used: 2 * PROMPT + 47, reserved: 0 })
    // The admin key is on the same team: its requests count toward the team's budget, not the key's.
    expect((await app.request('/v1/chat/completions', chatRequest(ask(500), ADMIN_KEY))).status).toBe(200)
    const shared = await usageOf(app)
    expect(shared.key.budgets[0]).toMatchObject({ used: 2 * PROMPT + 47 })
    expect(shared.team.budgets[0]).toMatchObject({ used: 3 * PROMPT + 47 + 7 })
  })

  it('shows empty budget lists for a key without budgets, however much it has used', async () => {
    const { app } = appWithBudgets()
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100), OTHER_KEY))).status).toBe(200)
    expect(await usageOf(app, OTHER_KEY)).toEqual({
      object: 'usage',
      key: { alias: 'free', team: 'team-b', budgets: [] },
      team: { name: 'team-b', budgets: [] },
    })
  })

  it('answers 503 budget_unavailable, with Retry-After, when the store cannot be read', async () => {
    const { app, deps } = appWithBudgets()
    const read = vi.spyOn(deps.store, 'read').mockRejectedValue(new Error('connection refused'))
    const res = await app.request('/v1/usage', get(TEST_KEY))
    const error = await errorOf(res, 503, 'budget_unavailable')
    expect(error.message).not.toContain('connection refused')
    expect(res.headers.get('retry-after')).toBe('1')
    await errorOf(await app.request('/admin/usage', get(ADMIN_KEY)), 503, 'budget_unavailable')
    expect(read).toHaveBeenCalled()
  })

  it('needs a key: 401 without one, or with an unknown one', async () => {
    const { app } = appWithBudgets()
    await errorOf(await app.request('/v1/usage', get(null)), 401, 'missing_api_key')
    await errorOf(await app.request('/v1/usage', get('sk-nope')), 401, 'invalid_api_key')
  })
})

describe('GET /admin/keys and /admin/usage', () => {
  it('lists every key by alias with its own budgets and usage, and never a secret or a hash', async () => {
    const { app } = appWithBudgets()
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100)))).status).toBe(200)
    const res = await app.request('/admin/keys', get(ADMIN_KEY))
    expect(res.status).toBe(200)
    const raw = await res.text()
    expect(JSON.parse(raw)).toEqual({
      object: 'list',
      data: [
        {
          alias: 'limited',
          team: 'team-a',
          role: 'user',
          models: null,
          budgets: [
            {
              window: 'day',
              unit: 'tokens',
              limit: 10_000,
              used: PROMPT + 40,
              reserved: 0,
              remaining: 10_000 - PROMPT - 40,
              resets_at: END_OF_DAY,
            },
          ],
        },
        { alias: 'free', team: 'team-b', role: 'user', models: null, budgets: [] },
        { alias: 'ops', team: 'team-a', role: 'admin', models: ['llava-hf/llava-1.5-7b-hf'], budgets: [] },
      ],
    })
    for (const secret of [TEST_KEY, OTHER_KEY, ADMIN_KEY]) {
      expect(raw).not.toContain(secret)
      expect(raw).not.toContain(sha256Hex(secret))
      expect(raw).not.toContain(sha256Hex(secret).slice(0, 16))
    }
  })

  it("shows each team's budgets and its keys' own, with usage", async () => {
    const { app } = appWithBudgets()
    expect((await app.request('/v1/chat/completions', chatRequest(ask(100)))).status).toBe(200)
    const res = await app.request('/admin/usage', get(ADMIN_KEY))
    expect(res.status).toBe(200)
    const raw = await res.text()
    const day = { window: 'day', unit: 'tokens', limit: 10_000, reserved: 0, resets_at: END_OF_DAY }
    expect(JSON.parse(raw)).toEqual({
      object: 'usage',
      teams: [
        {
          name: 'team-a',
          budgets: [
            {
              window: 'month',
              unit: 'tokens',
              limit: 50_000,
              used: PROMPT + 40,
              reserved: 0,
              remaining: 50_000 - PROMPT - 40,
              resets_at: END_OF_MONTH,
            },
          ],
          keys: [
            { alias: 'limited', budgets: [{ ...day, used: PROMPT + 40, remaining: 10_000 - PROMPT - 40 }] },
            { alias: 'ops', budgets: [] },
          ],
        },
        { name: 'team-b', budgets: [], keys: [{ alias: 'free', budgets: [] }] },
      ],
    })
    for (const secret of [TEST_KEY, OTHER_KEY, ADMIN_KEY]) expect(raw).not.toContain(sha256Hex(secret))
  })

  it.each(['/admin/keys', '/admin/usage'])('%s: 403 permission_denied for a normal key, 401 without a key', async (path) => {
    const { app } = appWithBudgets()
    const denied = await errorOf(await app.request(path, get(TEST_KEY)), 403, 'permission_denied')
    expect(denied.type).toBe('invalid_request_error')
    expect(denied.raw).not.toContain('limited')
    await errorOf(await app.request(path, get(null)), 401, 'missing_api_key')
  })
})
