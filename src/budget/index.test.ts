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

function setup(options: { store?: Store; whenStoreFails?: 'open' | 'closed'; clock?: { now(): number } } = {}) {
  const clock = options.clock ?? { now: () => Date.now() }
  const memory = new MemoryStore(1 << 20, clock)
  const store = options.store ?? memory
  const metrics = createMetrics({ defaultMetrics: false })
  const stepConfig = { ...config, budget: { ...config.budget, whenStoreFails: options.whenStoreFails ?? 'closed' } }
  const step = budget({ config: stepConfig, store, clock, metrics, log: createLogger('silent'), labels: createLabeler(config) })
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
  return { step, store: memory, metrics, ask, counter, lines }
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
    await step.settler.idle()
    const [state] = await memory.read([`${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`])
    expect(state).toEqual({ settled: 0, reserved: 0 })
    const failures = await metrics.budgetStoreFailures.get()
    expect(failures.values).toEqual([expect.objectContaining({ labels: { outcome: 'refused' }, value: 1 })])
  })

  it('lets the request through when open, and still gives back the reservation that ran', async () => {
    const clock = { now: () => Date.now() }
    const memory = new MemoryStore(1 << 20, clock)
    const { ask, step } = setup({ store: lostReplies(memory), clock, whenStoreFails: 'open' })
    const { line, response } = ask(principal(DAY_100), 50)
    expect((await response).status).toBe(200)
    line.complete(completed(25))
    await step.settler.idle()
    const [state] = await memory.read([`${config.cache.keyPrefix}budget:{t}:key:k:day:${dayId(clock.now())}`])
    expect(state).toEqual({ settled: 0, reserved: 0 }) // unmetered, as configured: nothing leaked either
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
