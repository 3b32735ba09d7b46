import { describe, it, expect } from 'vitest'
import { loadConfig } from '../config/load.js'
import type { CacheConfig } from '../config/schema.js'
import { ChatRequestSchema, type ChatRequest } from '../validate/chat-request-schema.js'
import { decideCache, isDeterministic } from './policy.js'

const MODEL = 'llava-hf/llava-1.5-7b-hf'

function cacheConfig(cache: Record<string, unknown> = {}): CacheConfig {
  return loadConfig(
    {},
    {
      backends: { main: { baseUrl: 'http://127.0.0.1:9', kind: 'openai' } },
      models: [{ id: MODEL, backend: 'main' }],
      keys: [{ alias: 'k', team: 't', secret: 'sk-test' }],
      cache,
    },
  ).config.cache
}

const request = (extra: Record<string, unknown> = {}): ChatRequest =>
  ChatRequestSchema.parse({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], ...extra })

const DETERMINISTIC = request({ temperature: 0 })
const defaults = cacheConfig()

describe('decideCache: switched off', () => {
  it('bypasses when the cache is disabled, whatever the request and headers say', () => {
    const off = cacheConfig({ enabled: false })
    expect(decideCache(DETERMINISTIC, undefined, off)).toBe('bypass')
    expect(decideCache(DETERMINISTIC, 'no-cache', off)).toBe('bypass')
    expect(decideCache(request({ temperature: 1 }), undefined, cacheConfig({ enabled: false, admit: 'all' }))).toBe('bypass')
  })
})

describe('decideCache: Cache-Control', () => {
  it('looks up a deterministic request without the header', () => {
    expect(decideCache(DETERMINISTIC, undefined, defaults)).toBe('lookup')
    expect(decideCache(DETERMINISTIC, '', defaults)).toBe('lookup')
  })

  it('bypasses on no-store', () => {
    expect(decideCache(DETERMINISTIC, 'no-store', defaults)).toBe('bypass')
  })

  it('bypasses on no-store even together with no-cache', () => {
    expect(decideCache(DETERMINISTIC, 'no-cache, no-store', defaults)).toBe('bypass')
    expect(decideCache(DETERMINISTIC, 'no-store,no-cache', defaults)).toBe('bypass')
  })

  it('refreshes on no-cache', () => {
    expect(decideCache(DETERMINISTIC, 'no-cache', defaults)).toBe('refresh')
  })

  it('parses a list with a valued directive: "max-age=0, no-cache" refreshes', () => {
    expect(decideCache(DETERMINISTIC, 'max-age=0, no-cache', defaults)).toBe('refresh')
  })

  it('ignores directives it does not act on', () => {
    expect(decideCache(DETERMINISTIC, 'max-age=0', defaults)).toBe('lookup')
    expect(decideCache(DETERMINISTIC, 'private, must-revalidate', defaults)).toBe('lookup')
  })

  it('does not take a directive that merely contains "no-cache" for no-cache', () => {
    expect(decideCache(DETERMINISTIC, 'x-no-cache', defaults)).toBe('lookup')
  })

  it('reads directives case-insensitively and with surrounding whitespace', () => {
    expect(decideCache(DETERMINISTIC, 'No-Cache', defaults)).toBe('refresh')
    expect(decideCache(DETERMINISTIC, '  NO-STORE  ', defaults)).toBe('bypass')
    expect(decideCache(DETERMINISTIC, 'Max-Age=0 ,  NO-CACHE', defaults)).toBe('refresh')
  })
})

describe('decideCache: deterministic admission (the default)', () => {
  it('is the default admission', () => {
    expect(defaults.admit).toBe('deterministic')
  })

  it.each([
    ['temperature 0', { temperature: 0 }, 'lookup'],
    ['a seed with temperature 0.7', { temperature: 0.7, seed: 42 }, 'lookup'],
    ['a seed of 0 without temperature', { seed: 0 }, 'lookup'],
    ['temperature absent', {}, 'bypass'],
    ['temperature null', { temperature: null }, 'bypass'],
    ['temperature 0.2', { temperature: 0.2 }, 'bypass'],
    ['seed null with temperature 1', { temperature: 1, seed: null }, 'bypass'],
  ])('%s → %s', (_name, extra, expected) => {
    expect(decideCache(request(extra), undefined, defaults)).toBe(expected)
  })

  it('bypasses a non-deterministic request even with no-cache (it would never be stored)', () => {
    expect(decideCache(request({ temperature: 1 }), 'no-cache', defaults)).toBe('bypass')
  })
})

describe("decideCache: admit 'all'", () => {
  const all = cacheConfig({ admit: 'all' })

  it('looks up a non-deterministic request', () => {
    expect(decideCache(request({ temperature: 1 }), undefined, all)).toBe('lookup')
    expect(decideCache(request(), undefined, all)).toBe('lookup')
  })

  it('still honours no-cache and no-store', () => {
    expect(decideCache(request(), 'no-cache', all)).toBe('refresh')
    expect(decideCache(request(), 'no-store', all)).toBe('bypass')
  })
})

describe('isDeterministic', () => {
  it('is true for temperature 0 or any non-null seed, false otherwise', () => {
    expect(isDeterministic(request({ temperature: 0 }))).toBe(true)
    expect(isDeterministic(request({ seed: 1, temperature: 2 }))).toBe(true)
    expect(isDeterministic(request({ seed: 0 }))).toBe(true)
    expect(isDeterministic(request())).toBe(false)
    expect(isDeterministic(request({ temperature: 0.01 }))).toBe(false)
    expect(isDeterministic(request({ temperature: null, seed: null }))).toBe(false)
  })
})
