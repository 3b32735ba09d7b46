import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './load.js'

// The config of issue 13: model pricing, budgets in dollars beside budgets in tokens, and CORS.

const base = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  backends: { local: { baseUrl: 'http://127.0.0.1:8000/v1' } },
  models: [
    { id: 'priced', backend: 'local', pricing: { prompt: 0.35, completion: 0.4, image: 0.1 } },
    { id: 'free', backend: 'local', pricing: { prompt: 0, completion: 0 } },
    { id: 'unpriced', backend: 'local' },
  ],
  ...extra,
})

function problemsOf(file: Record<string, unknown>): Array<{ path: string; message: string }> {
  try {
    loadConfig({}, file)
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('pricing', () => {
  it('is optional, in dollars per million tokens, with image tokens at the prompt price unless given', () => {
    const { config } = loadConfig({}, base())
    expect(config.models.map((m) => m.pricing)).toEqual([
      { prompt: 0.35, completion: 0.4, image: 0.1 },
      { prompt: 0, completion: 0 },
      undefined,
    ])
  })

  it('refuses negative prices and more than 6 decimal places (a whole pico-dollar per token)', () => {
    const file = base({ models: [{ id: 'm', backend: 'local', pricing: { prompt: -1, completion: 0.0000001 } }] })
    expect(problemsOf(file)).toEqual([
      { path: 'models[0].pricing.prompt', message: expect.stringContaining('>=0') },
      { path: 'models[0].pricing.completion', message: 'use at most 6 decimal places' },
    ])
  })
})

describe('budgets in dollars', () => {
  it('sit beside token budgets, one of tokens or usd per entry, and may share a window', () => {
    const { config } = loadConfig(
      {},
      base({
        keys: [
          {
            alias: 'k',
            secret: 's',
            models: ['priced', 'free'],
            budgets: [
              { window: 'day', usd: 5 },
              { window: 'day', tokens: 1000 },
            ],
          },
        ],
      }),
    )
    expect(config.keys[0]?.budgets).toEqual([
      { window: 'day', usd: 5 },
      { window: 'day', tokens: 1000 },
    ])
  })

  it('refuses an entry with both or neither, a non-positive amount, and two money budgets for one window', () => {
    const keys = [
      { alias: 'both', secret: 'a', models: ['priced'], budgets: [{ window: 'day', usd: 5, tokens: 10 }] },
      { alias: 'neither', secret: 'b', models: ['priced'], budgets: [{ window: 'day' }] },
      { alias: 'zero', secret: 'c', models: ['priced'], budgets: [{ window: 'day', usd: 0 }] },
      {
        alias: 'twice',
        secret: 'd',
        models: ['priced'],
        budgets: [
          { window: 'day', usd: 1 },
          { window: 'day', usd: 2 },
        ],
      },
    ]
    expect(problemsOf(base({ keys }))).toEqual([
      { path: 'keys[0].budgets[0]', message: 'give exactly one of `tokens` or `usd`' },
      { path: 'keys[1].budgets[0]', message: 'give exactly one of `tokens` or `usd`' },
      { path: 'keys[2].budgets[0].usd', message: 'must be more than 0' },
      { path: 'keys[3].budgets', message: expect.stringContaining('one budget per window and unit') },
    ])
  })

  it('refuses a key under a usd budget that may use a model without pricing, its own budget or its team’s', () => {
    const problems = problemsOf(
      base({
        keys: [
          { alias: 'everything', secret: 'a', budgets: [{ window: 'day', usd: 5 }] },
          { alias: 'teammate', team: 'vision', secret: 'b', models: ['priced', 'unpriced'] },
          { alias: 'careful', team: 'vision', secret: 'c', models: ['priced', 'free'] },
        ],
        teams: [{ name: 'vision', budgets: [{ window: 'month', usd: 100 }] }],
      }),
    )
    expect(problems).toEqual([
      {
        path: 'keys[0].budgets[0]',
        message: expect.stringContaining(
          'key "everything" may use "unpriced", which has no pricing: give the model pricing (zeros for a free model)',
        ),
      },
      { path: 'teams[0].budgets[0]', message: expect.stringContaining('key "teammate" may use "unpriced", which has no pricing') },
    ])
  })

  it('accepts a usd budget whose keys use only priced models, free ones included', () => {
    expect(() =>
      loadConfig({}, base({ keys: [{ alias: 'k', secret: 's', models: ['priced', 'free'], budgets: [{ window: 'hour', usd: 0.5 }] }] })),
    ).not.toThrow()
  })
})

describe('server.cors', () => {
  it('allows no origin by default; every preflight header, cached for 10 minutes', () => {
    expect(loadConfig({}, base()).config.server.cors).toEqual({ allowOrigins: [], allowHeaders: ['*'], maxAgeSeconds: 600 })
  })

  it('takes origins as browsers send them, or *, and refuses anything with a path', () => {
    const cors = { allowOrigins: ['https://app.example.com', 'http://127.0.0.1:5173', '*'] }
    expect(loadConfig({}, base({ server: { cors } })).config.server.cors.allowOrigins).toEqual(cors.allowOrigins)
    expect(problemsOf(base({ server: { cors: { allowOrigins: ['https://app.example.com/', 'app.example.com'] } } }))).toEqual([
      { path: 'server.cors.allowOrigins[0]', message: expect.stringContaining('use an origin') },
      { path: 'server.cors.allowOrigins[1]', message: expect.stringContaining('use an origin') },
    ])
  })
})
