import { Hono } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Principal } from '../auth/index.js'
import type { CacheLookup } from '../cache/index.js'
import type { Completion } from '../completion/completion.js'
import { FinishLine } from '../completion/finish-line.js'
import { loadConfig } from '../config/load.js'
import type { ChatEnv } from '../env.js'
import { onError } from '../errors/respond.js'
import { createLogger } from '../lib/logger.js'
import { createLabeler } from '../metrics/labels.js'
import { createMetrics } from '../metrics/metrics.js'
import { MemoryStore } from '../store/memory-store.js'
import type { Store } from '../store/store.js'
import { budget } from './index.js'

// The budget step on a throwaway app: the variables it reads are set by hand, the request's end is
// a FinishLine the test completes, and the store is the in-memory one (or a wrapper that fails).

const PROMPT = { textTokens: 10, imageTokens: 0, images: 0, total: 10 }
const LEASE_MS = 3_000
const config = loadConfig(
  {},
  {
    backends: { main: { baseUrl: 'http://127.0.0.1:9/v1' } },
    models: [{ id: 'm', backend: 'main' }],
    budget: { leaseMs: LEASE_MS },
    cache: { hitsCountTowardUsage: true },
  },
).config
const model = config.models[0]!
const principal = (budgets: Principal['budgets']): Principal => ({
  keyAlias: 'k',
  team: 't',
  role: 'user' as const,
  models: undefined,
  budgets,
})
const DAY_100 = [{ window: 'day' as const, tokens: 100, scope: 'key' as const, name: 'k' }]

type LogLine = { msg: string; message?: string; lease?: string }

function setup(options: { store?: Store; whenStoreFails?: 'open' | 'closed'; clock?: { now(): number } } = {}) {
  const clock = options.clock ?? { now: () => Date.now() }
  const memory = new MemoryStore(1 << 20, clock)
  const store = options.store ?? memory
  const metrics = createMetrics({ defaultMetrics: false })
  const stepConfig = { ...config, budget: { ...config.budget, whenStoreFails: options.whenStoreFails ?? 'closed' } }
  const logged: LogLine[] = []
  const log = createLogger('warn', { write: (line: string) => void logged.push(JSON.parse(line) as LogLine) })
  const step = budget({ config: stepConfig, store, clock, metrics, log, labels: createLabeler(config) })
  const lines: FinishLine[] = []
  const ask = (who: Principal, maxTokens: number, lookup: CacheLookup = { result: 'miss' }) => {
    const line = new FinishLine(clock.now())
    lines.push(line)
    const app = new Hono<ChatEnv>()
      .use(async (c, next) => {
        c.set('finish', line)
        c.set('principal', who)
        c.set('model', model)
        c.set('chatRequest', { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens })
        c.set('prompt', PROMPT)
        c.set('cacheLookup', lookup)
        await next()
      })
      .post('/', step, (c) => c.text('ok'))
    app.onError(onError(createLogger('silent')))
    return { line, response: app.request('/', { method: 'POST' }) }
  }
  const counter = async () => {
    const [state] = await memory.read([`${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`])
    return state
  }
  return { step, store: memory, metrics, ask, counter, lines, logged }
}

const dayId = (now: number) => new Date(now).toISOString().slice(0, 10).replaceAll('-', '')
const completed = (total: number, cache: Completion['cache'] = 'miss'): Completion => ({
  outcome: 'completed',
  status: 200,
  cache,
  usage: { usage: { prompt_tokens: 10, completion_tokens: total - 10, total_tokens: total }, source: 'upstream', imageTokens: 0 },
})

afterEach(() => {
  vi.useRealTimers()
})

describe('budget step: reserve and settle', () => {
  it('reserves the prompt plus max_tokens as a lease, then settles it to the actual cost when the request finishes', async () => {
    const { ask, counter, step } = setup()
    const { line, response } = ask(principal(DAY_100), 50)
    expect((await response).status).toBe(200)
    expect(await counter()).toEqual({ settled: 0, reserved: 60 })
    expect(step.leases.size).toBe(1)
    line.complete(completed(25))
    await step.settler.idle()
    expect(await counter()).toEqual({ settled: 25, reserved: 0 })
    expect(step.leases.size).toBe(0)
  })

  it('gives the whole lease back when the request produced nothing', async () => {
    const { ask, counter, step } = setup()
    const { line, response } = ask(principal(DAY_100), 50)
    await response
    line.complete({ outcome: 'upstream_error', status: 502, cache: 'miss' })
    await step.settler.idle()
    expect(await counter()).toEqual({ settled: 0, reserved: 0 })
  })

  it('refuses what would pass the limit with 429, and reserves nothing for it', async () => {
    const { ask, counter } = setup()
    ask(principal(DAY_100), 50)
    const refused = await ask(principal(DAY_100), 40).response
    expect(refused.status).toBe(429)
    expect(await counter()).toEqual({ settled: 0, reserved: 60 })
  })

  it('reserves nothing for a key without budgets, and nothing for a cache hit, but counts charged tokens', async () => {
    const { ask, counter, metrics } = setup()
    const free = ask(principal([]), 10_000)
    expect((await free.response).status).toBe(200)
    free.line.complete(completed(30))
    const hit = ask(principal(DAY_100), 10_000, { result: 'hit', entry: undefined as never })
    expect((await hit.response).status).toBe(200)
    expect(await counter()).toEqual({ settled: 0, reserved: 0 })
    hit.line.complete(completed(40, 'hit'))
    await Promise.resolve()
    expect(await counter()).toEqual({ settled: 40, reserved: 0 }) // config charges hits
    const charged = await metrics.chargedTokens.get()
    expect(charged.values.map((v) => v.value).reduce((a, b) => a + b, 0)).toBe(70)
  })
})

describe('budget step: the store fails', () => {
  /** A store whose reserve runs, and then its reply is lost: the call fails though Redis did the work. */
  const lostReplies = (memory: MemoryStore): Store =>
    Object.assign(Object.create(memory) as MemoryStore, {
      reserve: async (...args: Parameters<MemoryStore['reserve']>) => {
        await memory.reserve(...args)
        throw new Error('timed out')
      },
    })

  it('refuses with 503 when closed, and gives back the reservation that ran anyway', async () => {
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    const { ask, step, metrics } = setup({ store: lostReplies(memory), clock })
    const res = await ask(principal(DAY_100), 50).response
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('budget_unavailable')
    await step.settler.idle()
    const [state] = await memory.read([`${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`])
    expect(state).toEqual({ settled: 0, reserved: 0 })
    const failures = await metrics.budgetStoreFailures.get()
    expect(failures.values).toEqual([expect.objectContaining({ labels: { outcome: 'refused' }, value: 1 })])
  })

  it('lets the request through when open, and still gives back the reservation that ran', async () => {
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    const { ask, step, metrics } = setup({ store: lostReplies(memory), clock, whenStoreFails: 'open' })
    const { line, response } = ask(principal(DAY_100), 50)
    expect((await response).status).toBe(200)
    line.complete(completed(25))
    await step.settler.idle()
    const [state] = await memory.read([`${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`])
    expect(state).toEqual({ settled: 0, reserved: 0 }) // unmetered, as configured: nothing leaked either
    expect(((await metrics.chargedTokens.get()).values as Array<{ value: number }>).map((v) => v.value)).toEqual([25]) // still metered
  })

  it('retries a settlement whose reply was lost until it lands, and counts it once', async () => {
    vi.useFakeTimers()
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    let failures = 2
    const flaky = Object.assign(Object.create(memory) as MemoryStore, {
      settle: async (...args: Parameters<MemoryStore['settle']>) => {
        await memory.settle(...args) // it ran...
        if (failures-- > 0) throw new Error('timed out') // ...but the caller never heard
      },
    })
    const { ask, step } = setup({ store: flaky, clock })
    const { line, response } = ask(principal(DAY_100), 50)
    await response
    line.complete(completed(25))
    const idle = step.settler.idle()
    await vi.advanceTimersByTimeAsync(1_000)
    await idle
    const [state] = await memory.read([`${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`])
    expect(state).toEqual({ settled: 25, reserved: 0 })
  })

  it('gives a settlement up after the late-settle window, and says so in a metric', async () => {
    vi.useFakeTimers()
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    const down = Object.assign(Object.create(memory) as MemoryStore, {
      settle: async () => {
        throw new Error('down')
      },
    })
    const { ask, step, metrics } = setup({ store: down, clock })
    const { line, response } = ask(principal(DAY_100), 50)
    await response
    line.complete(completed(25))
    const idle = step.settler.idle()
    await vi.advanceTimersByTimeAsync(16 * 60_000)
    await idle
    const failures = await metrics.budgetStoreFailures.get()
    expect(failures.values).toEqual([expect.objectContaining({ labels: { outcome: 'settle_abandoned' }, value: 1 })])
  })
})

describe('budget step: leases', () => {
  it('keeps a long request’s lease alive past its first expiry, and lets a dead holder’s lease lapse', async () => {
    vi.useFakeTimers()
    const { ask, counter, store, step } = setup()
    const { line, response } = ask(principal(DAY_100), 50) // 60 reserved by a live request
    await response
    // A replica that died holding 30: reserved directly, never renewed.
    await store.reserve(
      'dead',
      [{ key: `${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(Date.now())}`, limit: 100, ttlMs: 86_400_000 }],
      30,
      LEASE_MS,
    )
    expect(await counter()).toEqual({ settled: 0, reserved: 90 })
    await vi.advanceTimersByTimeAsync(3 * LEASE_MS)
    expect(await counter()).toEqual({ settled: 0, reserved: 60 }) // the dead one lapsed; the live one was renewed
    line.complete(completed(25))
    await step.settler.idle()
    expect(await counter()).toEqual({ settled: 25, reserved: 0 })
    expect(step.leases.size).toBe(0)
  })
})

describe('budget step: refusals', () => {
  const NOON = Date.parse('2026-11-26T12:00:00.000Z')
  const refusal = async (res: Response) => ({
    status: res.status,
    message: ((await res.json()) as { error: { message: string } }).error.message,
    retryAfter: res.headers.get('retry-after'),
    shouldRetry: res.headers.get('x-should-retry'),
  })

  it('says whose budget is used up, by how much, what the request needs and when the budget resets', async () => {
    const { ask, metrics } = setup({ clock: { now: () => NOON } })
    await ask(principal(DAY_100), 50).response
    expect(await refusal(await ask(principal(DAY_100), 40).response)).toEqual({
      status: 429,
      message:
        'Key "k" has used 60 of its 100 tokens this day; this request may need 50 (its prompt plus its max_tokens). The budget resets in 43200 s.',
      retryAfter: '43200',
      shouldRetry: 'false',
    })
    const rejections = await metrics.budgetRejections.get()
    expect(rejections.values).toEqual([
      expect.objectContaining({ labels: { key_alias: 'k', team: 't', window: 'day', scope: 'key' }, value: 1 }),
    ])
  })

  it('names the team when the team’s budget refuses', async () => {
    const { ask, metrics } = setup({ clock: { now: () => NOON } })
    const team = principal([{ window: 'hour', tokens: 30, scope: 'team', name: 'vision' }])
    expect((await refusal(await ask(team, 40).response)).message).toMatch(/^Team "vision" has used 0 of its 30 tokens this hour; /)
    const rejections = await metrics.budgetRejections.get()
    expect(rejections.values).toEqual([
      expect.objectContaining({ labels: { key_alias: 'k', team: 't', window: 'hour', scope: 'team' }, value: 1 }),
    ])
  })

  it('lets the SDK retry a budget that resets within 60 s, however close to it', async () => {
    const MINUTE_10 = principal([{ window: 'minute', tokens: 10, scope: 'key', name: 'k' }])
    for (const [now, wait] of [
      [NOON, '60'],
      [NOON + 1, '60'],
      [NOON + 59_000, '1'],
      [NOON + 59_999, '1'],
    ] as const) {
      const { ask } = setup({ clock: { now: () => now } })
      const res = await refusal(await ask(MINUTE_10, 50).response)
      expect([res.retryAfter, res.shouldRetry]).toEqual([wait, null])
    }
  })

  it('tells the SDK not to retry a budget that resets in more than 60 s', async () => {
    const HOUR_10 = principal([{ window: 'hour', tokens: 10, scope: 'key', name: 'k' }])
    const { ask } = setup({ clock: { now: () => Date.parse('2026-11-26T12:58:59.000Z') } })
    const res = await refusal(await ask(HOUR_10, 50).response)
    expect([res.retryAfter, res.shouldRetry]).toEqual(['61', 'false'])
  })
})

describe('budget step: what it counts', () => {
  it('holds no lease for a key without budgets', async () => {
    const { ask, step } = setup()
    const { line, response } = ask(principal([]), 10_000)
    expect((await response).status).toBe(200)
    expect(step.leases.size).toBe(0)
    line.complete(completed(30))
    await step.settler.idle()
  })

  it('counts no charged tokens for a request that used none', async () => {
    const { ask, metrics, step } = setup()
    const { line, response } = ask(principal(DAY_100), 50)
    await response
    line.complete({ outcome: 'upstream_error', status: 502, cache: 'miss' })
    await step.settler.idle()
    expect((await metrics.chargedTokens.get()).values).toEqual([])
  })

  it('batches charged cache hits on a Redis store, sending them after 200 ms', async () => {
    vi.useFakeTimers()
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    const redisLike = Object.assign(Object.create(memory) as MemoryStore, { kind: 'redis' })
    const { ask } = setup({ store: redisLike, clock })
    const hit = ask(principal(DAY_100), 10_000, { result: 'hit', entry: undefined as never })
    await hit.response
    hit.line.complete(completed(40, 'hit'))
    const key = `${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`
    await vi.advanceTimersByTimeAsync(199)
    expect(await memory.read([key])).toEqual([{ settled: 0, reserved: 0 }])
    await vi.advanceTimersByTimeAsync(1)
    expect(await memory.read([key])).toEqual([{ settled: 40, reserved: 0 }])
  })
})

describe('budget step: store trouble', () => {
  /** The memory store, with `reserve`, `renew`, `settle` and `charge` failing while `down` says so. */
  function flaky() {
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    const down = { reserve: false, renew: false, settle: false, charge: false }
    const fail =
      <A extends unknown[], R>(name: keyof typeof down, call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (down[name]) throw new Error(`${name} failed`)
        return call(...args)
      }
    const store = Object.assign(Object.create(memory) as MemoryStore, {
      reserve: fail('reserve', memory.reserve.bind(memory)),
      renew: fail('renew', memory.renew.bind(memory)),
      settle: fail('settle', memory.settle.bind(memory)),
      charge: fail('charge', memory.charge.bind(memory)),
    })
    return { store, clock, down }
  }

  it('warns once per outage that requests are refused, and again after the store came back', async () => {
    const { store, clock, down } = flaky()
    const { ask, logged, step } = setup({ store, clock })
    down.reserve = true
    expect((await ask(principal(DAY_100), 10).response).status).toBe(503)
    expect((await ask(principal(DAY_100), 10).response).status).toBe(503)
    expect(logged.map((l) => [l.msg, l.message])).toEqual([['budget store unavailable: requests are refused', 'reserve failed']])
    down.reserve = false
    expect((await ask(principal(DAY_100), 10).response).status).toBe(200)
    down.reserve = true
    expect((await ask(principal(DAY_100), 10).response).status).toBe(503)
    expect(logged.map((l) => l.msg)).toEqual([
      'budget store unavailable: requests are refused',
      'budget store unavailable: requests are refused',
    ])
    await step.settler.idle()
  })

  it('warns that requests pass unchecked when open, and counts them as allowed', async () => {
    const { store, clock, down } = flaky()
    const { ask, logged, metrics, step } = setup({ store, clock, whenStoreFails: 'open' })
    down.reserve = true
    expect((await ask(principal(DAY_100), 10).response).status).toBe(200)
    expect(logged.map((l) => [l.msg, l.message])).toEqual([['budget store unavailable: requests pass unchecked', 'reserve failed']])
    const failures = await metrics.budgetStoreFailures.get()
    expect(failures.values).toEqual([expect.objectContaining({ labels: { outcome: 'allowed' }, value: 1 })])
    await step.settler.idle()
  })

  it('warns once when leases cannot be renewed', async () => {
    vi.useFakeTimers()
    const { store, clock, down } = flaky()
    const { ask, logged, step } = setup({ store, clock })
    const { line, response } = ask(principal(DAY_100), 10)
    await response
    down.renew = true
    await vi.advanceTimersByTimeAsync(3 * LEASE_MS)
    expect(logged.map((l) => [l.msg, l.message])).toEqual([['budget leases could not be renewed', 'renew failed']])
    line.complete(completed(15))
    await step.settler.idle()
  })

  it('counts and warns about charges for cache hits that the store lost', async () => {
    const { store, clock, down } = flaky()
    const { ask, logged, metrics } = setup({ store, clock })
    down.charge = true
    const twoBudgets = principal([...DAY_100, { window: 'hour', tokens: 100, scope: 'team', name: 'vision' }])
    const hit = ask(twoBudgets, 10, { result: 'hit', entry: undefined as never })
    await hit.response
    hit.line.complete(completed(40, 'hit'))
    await vi.waitFor(() => expect(logged).toHaveLength(1))
    expect(logged.map((l) => [l.msg, l.message])).toEqual([['budget charges for cache hits failed', 'charge failed']])
    const failures = await metrics.budgetStoreFailures.get()
    expect(failures.values).toEqual([expect.objectContaining({ labels: { outcome: 'charge_lost' }, value: 2 })])
  })

  it('logs which lease’s settlement it gave up on, and why', async () => {
    vi.useFakeTimers()
    const { store, clock, down } = flaky()
    const { ask, logged, step } = setup({ store, clock })
    const { line, response } = ask(principal(DAY_100), 10)
    await response
    down.settle = true
    line.complete(completed(15))
    const idle = step.settler.idle()
    await vi.advanceTimersByTimeAsync(16 * 60_000)
    await idle
    expect(logged).toEqual([
      expect.objectContaining({
        msg: 'budget settlement given up: its cost is not counted',
        message: 'settle failed',
        lease: expect.stringMatching(/^[0-9a-f-]{36}$/),
      }),
    ])
  })
})
