import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './load.js'

// A backend is a pool of replicas: `baseUrl` is a pool of one, `urls` lists several.

const withBackend = (backend: Record<string, unknown>) => ({ backends: { local: backend }, models: [{ id: 'm', backend: 'local' }] })
const load = (backend: Record<string, unknown>) => loadConfig({}, withBackend(backend)).config.backends['local']
const problems = (backend: Record<string, unknown>) => {
  try {
    load(backend)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('backend pools in the config', () => {
  it('makes a baseUrl a pool of one, named after its backend, with the defaults', () => {
    expect(load({ baseUrl: 'http://127.0.0.1:8000/v1' })).toMatchObject({
      replicas: [{ name: 'local-0', url: 'http://127.0.0.1:8000/v1', weight: 1 }],
      routing: 'least_outstanding',
      affinityEpsilon: 0.25,
      affinitySlack: 2,
      retries: { maxPerRequest: 2, budgetRatio: 0.2, budgetWindowMs: 10_000, minPerWindow: 3 },
      ejection: { consecutiveFailures: 3, baseMs: 5_000, maxMs: 120_000 },
      queueAware: { enabled: false, path: '/metrics', maxWaiting: 0, maxKvCacheUsage: 0.9 },
      healthCheck: { path: '/models', relativeTo: 'baseUrl' },
    })
  })

  it('takes urls as plain strings or {url, name, weight}, numbering the unnamed ones by position', () => {
    const backend = load({
      urls: [
        'http://127.0.0.1:8000/v1',
        { url: 'http://127.0.0.1:8001/v1', name: 'gpu1', weight: '2' },
        { url: 'http://127.0.0.1:8002/v1' },
      ],
      routing: 'affinity',
    })
    expect(backend?.replicas).toEqual([
      { name: 'local-0', url: 'http://127.0.0.1:8000/v1', weight: 1 },
      { name: 'gpu1', url: 'http://127.0.0.1:8001/v1', weight: 2 },
      { name: 'local-2', url: 'http://127.0.0.1:8002/v1', weight: 1 },
    ])
    expect(backend?.routing).toBe('affinity')
  })

  it('takes urls as one comma-separated string, as a ${VAR} gives them', () => {
    expect(load({ urls: 'http://127.0.0.1:8000/v1, http://127.0.0.1:8001/v1,' })?.replicas).toEqual([
      { name: 'local-0', url: 'http://127.0.0.1:8000/v1', weight: 1 },
      { name: 'local-1', url: 'http://127.0.0.1:8001/v1', weight: 1 },
    ])
  })

  it.each([
    ['both baseUrl and urls', { baseUrl: 'http://a/v1', urls: ['http://b/v1'] }, 'backends.local', 'exactly one'],
    ['neither baseUrl nor urls', {}, 'backends.local', 'exactly one'],
    ['an empty urls list', { urls: [] }, 'backends.local.urls', ''],
    ['a replica URL that is not http(s)', { urls: ['ftp://a/v1'] }, 'backends.local.urls[0]', ''],
    [
      'a replica name that cannot be a metric label',
      { urls: [{ url: 'http://a/v1', name: 'gpu one' }] },
      'backends.local.urls[0].name',
      '',
    ],
    ['a zero weight', { urls: [{ url: 'http://a/v1', weight: 0 }] }, 'backends.local.urls[0].weight', ''],
    [
      'two replicas with one name',
      { urls: [{ url: 'http://a/v1', name: 'local-1' }, 'http://b/v1'] },
      'backends.local.urls[1].name',
      'duplicate replica name "local-1"',
    ],
    ['an unknown routing', { baseUrl: 'http://a/v1', routing: 'random' }, 'backends.local.routing', ''],
    ['a retry budget over 100 %', { baseUrl: 'http://a/v1', retries: { budgetRatio: 1.5 } }, 'backends.local.retries.budgetRatio', ''],
    ['an ejection base past its cap', { baseUrl: 'http://a/v1', ejection: { baseMs: 10, maxMs: 5 } }, 'backends.local.ejection.baseMs', ''],
    [
      'queue awareness on a server that is not vLLM',
      { baseUrl: 'http://a/v1', kind: 'llamacpp', queueAware: { enabled: true } },
      'backends.local.queueAware.enabled',
      'only for kind vllm',
    ],
  ])('refuses %s', (_name, backend, path, message) => {
    const found = problems(backend)
    expect(found.map((p) => p.path)).toContain(path)
    expect(found.find((p) => p.path === path)?.message).toContain(message)
  })
})
