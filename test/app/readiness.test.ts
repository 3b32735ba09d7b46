import { describe, expect, it } from 'vitest'
import { startHealthProbes } from '../../src/backends/health-probes.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, MODEL, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Readiness and the model list follow the backends: requests that fail mark a backend down,
// probes bring it back, and /readyz says which one is down and why.

type Replica = { state: string; healthy: boolean; lastError?: string }
type Ready = { status: string; backends: Record<string, { healthy: boolean; replicas: Record<string, Replica> }> }
type Models = { data: Array<{ id: string; available: boolean }> }

describe('readiness that reflects backends', () => {
  it('goes not ready when the only backend dies, and ready again when it comes back', async () => {
    let backend = await FakeUpstream.start()
    backend.handle((_call, res) => replyJson(res, 200, { object: 'list', data: [] }))
    const port = Number(new URL(backend.baseUrl).port)
    const config = testConfig(backend.baseUrl)
    const { app, deps } = buildTestApp({
      ...config,
      backends: {
        main: {
          ...config.backends['main'],
          baseUrl: backend.baseUrl,
          healthCheck: { intervalMs: 50, timeoutMs: 500 },
          // Back on trial once a probe answers and 50 ms have passed since it was ejected.
          ejection: { baseMs: 50 },
        },
      },
    })
    const stop = startHealthProbes(deps.config.backends, deps.upstreamClient, deps.pools.health)
    const ready = async () => {
      const res = await app.request('/readyz')
      return { code: res.status, body: (await res.json()) as Ready }
    }
    const models = async () =>
      ((await (await app.request('/v1/models', { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as Models).data
    try {
      await until(async () => (await ready()).code === 200, { timeoutMs: 2_000, what: 'ready with a live backend' })
      expect((await models()).find((m) => m.id === MODEL)?.available).toBe(true)

      await backend.close() // dies: probes are refused
      await until(async () => (await ready()).code === 503, { timeoutMs: 3_000, what: 'not ready once the backend is down' })
      const down = (await ready()).body
      expect(down.status).toBe('not_ready')
      expect(down.backends['main']).toMatchObject({ healthy: false })
      expect(down.backends['main']?.replicas['main-0']).toMatchObject({
        state: 'ejected',
        healthy: false,
        lastError: expect.stringContaining('ECONNREFUSED') as unknown,
      })
      expect((await models()).find((m) => m.id === MODEL)?.available).toBe(false)

      backend = await FakeUpstream.start(port) // comes back where it was
      backend.handle((_call, res) => replyJson(res, 200, { object: 'list', data: [] }))
      await until(async () => (await ready()).code === 200, { timeoutMs: 3_000, what: 'ready again once the backend answers' })
      expect((await models()).find((m) => m.id === MODEL)?.available).toBe(true)
    } finally {
      stop()
      await backend.close()
    }
  })

  it('marks a backend that never answered down at its first failure', async () => {
    const { deps } = buildTestApp(testConfig('http://127.0.0.1:9/v1'))
    deps.pools.health.replica('main', 'main-0')?.probeFailed('probe failed (ECONNREFUSED)')
    expect(deps.pools.snapshot()['main']?.replicas['main-0']).toMatchObject({
      state: 'ejected',
      healthy: false,
      failures: 1,
      everUp: false,
    })
  })

  it('marks a backend that was answering down after three failed requests in a row, and up after one that succeeds', async () => {
    const backend = await FakeUpstream.start()
    try {
      const { app, deps } = buildTestApp(testConfig(backend.baseUrl))
      backend.handle((_call, res) => replyJson(res, 200, chatCompletion()))
      expect((await app.request('/v1/chat/completions', chatRequest(userText('hi')))).status).toBe(200) // it answers
      backend.handle((_call, res) => replyJson(res, 503, { error: { message: 'overloaded' } }))
      for (let i = 0; i < 2; i++) await app.request('/v1/chat/completions', chatRequest(userText('hi')))
      expect(deps.pools.isHealthy('main')).toBe(true) // two is bad luck
      await app.request('/v1/chat/completions', chatRequest(userText('hi')))
      expect(deps.pools.snapshot()['main']?.replicas['main-0']).toMatchObject({ state: 'ejected', failures: 3, lastError: 'HTTP 503' })
      expect((await app.request('/readyz')).status).toBe(503)
      backend.handle((_call, res) => replyJson(res, 200, chatCompletion()))
      expect((await app.request('/v1/chat/completions', chatRequest(userText('hi')))).status).toBe(200)
      expect(deps.pools.isHealthy('main')).toBe(true) // a last resort: no replica was healthy, so the ejected one was tried
      expect((await app.request('/readyz')).status).toBe(200)
    } finally {
      await backend.close()
    }
  })
})
