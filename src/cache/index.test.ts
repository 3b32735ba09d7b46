import { Context, type Next } from 'hono'
import { describe, expect, it } from 'vitest'
import { parsedRequest, settle, stepConfig, STEP_MODEL } from '../../test/helpers/step-app.js'
import type { Principal } from '../auth/index.js'
import type { Completion } from '../completion/completion.js'
import { FinishLine } from '../completion/finish-line.js'
import { createLogger } from '../lib/logger.js'
import { createMetrics } from '../metrics/metrics.js'
import { MemoryStore } from '../store/memory-store.js'
import { cache, type CacheLookup } from './index.js'

// How the cache step hands a request on. The whole behaviour (keys, hits, coalescing, Redis) is
// tested through the app in test/app/cache.test.ts and test/integration/cache.test.ts; here, only
// that a request the memory store answers at once costs no promise of the step's own.

const PRINCIPAL: Principal = { keyAlias: 'a-key', team: 'team-a', role: 'user', models: undefined, budgets: [] }
const clock = { now: () => 1_700_000_000_000 }

function cacheStep(store = new MemoryStore(1024 * 1024, clock)) {
  const step = cache({ config: stepConfig(), store, metrics: createMetrics({ defaultMetrics: false }), log: createLogger('silent'), clock })
  /** Runs the step on one request; `next` records what the step left and returns `handedOn`. */
  const run = (body: Record<string, unknown>, handedOn: Promise<void>) => {
    const c = new Context(new Request('http://gateway.test/', { method: 'POST' }))
    const finish = new FinishLine(0)
    const set = c.set as (key: string, value: unknown) => void
    set.call(c, 'chatRequest', parsedRequest(body))
    set.call(c, 'requestImages', [])
    set.call(c, 'principal', PRINCIPAL)
    set.call(c, 'finish', finish)
    let lookup: CacheLookup | undefined
    const next: Next = () => {
      lookup = (c.get as (key: string) => unknown)('cacheLookup') as CacheLookup
      return handedOn
    }
    const returned = step(c as never, next)
    return { returned, finish, lookup: () => lookup }
  }
  return { run, store }
}

const ANSWER: Completion = {
  outcome: 'completed',
  status: 200,
  cache: 'miss',
  usage: { usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }, source: 'upstream', imageTokens: 0 },
  answer: {
    id: 'chatcmpl-1',
    created: 1_700_000_000,
    model: STEP_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
  },
}

const TEXT = { model: STEP_MODEL, temperature: 0, messages: [{ role: 'user', content: 'Hello' }] }

describe('cache step on the memory store: a request keyed at once is handed on at once', () => {
  it('returns the very promise next() returned, for a miss and then for the hit its answer makes', async () => {
    const { run, store } = cacheStep()
    const handedOn = Promise.resolve()
    const miss = run(TEXT, handedOn)
    expect(miss.returned).toBe(handedOn) // no promise of the step's own in between
    expect(miss.lookup()?.result).toBe('miss')
    miss.finish.complete(ANSWER)
    await miss.finish.done
    await settle(1) // the store write runs in a listener
    expect(store.bytes).toBeGreaterThan(0)

    const hit = run(TEXT, handedOn)
    expect(hit.returned).toBe(handedOn)
    expect(hit.lookup()).toMatchObject({ result: 'hit', entry: { choices: [{ message: { content: 'Hi.' } }] } })
  })

  it('waits (a promise of its own) for an identical request already on its way to the backend, and shares its answer', async () => {
    const { run } = cacheStep()
    const first = run(TEXT, Promise.resolve())
    const handedOn = Promise.resolve()
    const second = run(TEXT, handedOn)
    expect(second.returned).not.toBe(handedOn)
    expect(second.lookup()).toBeUndefined() // not handed on yet: it waits for the first
    first.finish.complete(ANSWER)
    await second.returned
    expect(second.lookup()).toMatchObject({ result: 'hit', entry: { choices: [{ message: { content: 'Hi.' } }] } })
  })

  it('looks a store it cannot read at once (no peek, as Redis) up with a promise, and still finds the entry', async () => {
    const store = new MemoryStore(1024 * 1024, clock)
    const { run } = cacheStep(Object.assign(store, { peek: undefined }))
    const miss = run(TEXT, Promise.resolve())
    await miss.returned
    expect(miss.lookup()?.result).toBe('miss')
    miss.finish.complete(ANSWER)
    await miss.finish.done
    await settle(1)
    const handedOn = Promise.resolve()
    const hit = run(TEXT, handedOn)
    expect(hit.returned).not.toBe(handedOn)
    await hit.returned
    expect(hit.lookup()?.result).toBe('hit')
  })
})
