import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics/metrics.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, MODEL, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

const scrape = async (app: ReturnType<typeof buildTestApp>['app'], headers: Record<string, string> = {}) => {
  const res = await app.request('/metrics', { headers })
  return { res, text: await res.text() }
}

/** Every label value of every series, as `name{label}=value` strings: what could grow without bound. */
function labelValues(text: string): Set<string> {
  const out = new Set<string>()
  for (const family of parsePrometheusTextFormat(text)) {
    for (const sample of family.metrics) {
      for (const [label, value] of Object.entries(sample.labels ?? {})) out.add(`${family.name}{${label}}=${value}`)
    }
  }
  return out
}

describe('GET /metrics', () => {
  it('is valid Prometheus text exposition with the gateway families, prefixed and in base units', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl), { metrics: createMetrics() }) // with process metrics
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    const { res, text } = await scrape(app)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain')
    const families = parsePrometheusTextFormat(text)
    const names = families.map((f) => f.name)
    for (const name of [
      'llava_gateway_requests_total',
      'llava_gateway_request_duration_seconds',
      'llava_gateway_upstream_duration_seconds',
      'llava_gateway_time_to_first_token_seconds',
      'llava_gateway_prompt_tokens_total',
      'llava_gateway_image_tokens_total',
      'llava_gateway_completion_tokens_total',
      'llava_gateway_images_total',
      'llava_gateway_image_fetches_total',
      'llava_gateway_image_fetch_bytes',
      'llava_gateway_cache_lookups_total',
      'llava_gateway_content_reorders_total',
      'llava_gateway_usage_mismatches_total',
      'llava_gateway_in_flight_requests',
      'llava_gateway_process_resident_memory_bytes',
    ]) {
      expect(names).toContain(name)
    }
    for (const family of families) {
      expect(family.name).toMatch(/^llava_gateway_[a-z0-9_]+$/)
      expect(family.help).not.toBe('')
      expect(['counter', 'gauge', 'histogram', 'summary']).toContain(family.type.toLowerCase())
    }
    // Every non-comment line is `name{labels} value`, as the exposition format requires.
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (?:-?[0-9.e+-]+|NaN|[+-]Inf)$/i)
    }
  })

  it('adds no label values for 1000 requests with random model names and random keys', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    const warmUp = [
      app.request('/v1/chat/completions', chatRequest(userText('hi'))),
      app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), model: 'warm-up-unknown' })),
      app.request('/v1/chat/completions', chatRequest(userText('hi'), 'sk-warm-up-unknown')),
      app.request('/v1/nothing-here'),
      app.request('/metrics'),
    ]
    for (const res of warmUp) await res
    const before = labelValues((await scrape(app)).text)
    for (let i = 0; i < 1000; i++) {
      const random = crypto.randomUUID()
      const key = i % 2 === 0 ? TEST_KEY : `sk-${random}`
      await app.request(
        i % 3 === 0 ? `/v1/${random}` : '/v1/chat/completions',
        chatRequest({ ...userText('hi'), model: `model-${random}` }, key),
      )
    }
    const after = labelValues((await scrape(app)).text)
    expect([...after].filter((v) => !before.has(v))).toEqual([])
    const text = (await scrape(app)).text
    expect(text).not.toContain(TEST_KEY)
    expect(text).toContain('model="other"')
    expect(text).not.toContain('model-')
  })

  it('requires the configured bearer token', async () => {
    const { app } = buildTestApp({ ...testConfig(upstream.baseUrl), metrics: { bearerToken: 'scrape-secret' } })
    expect((await scrape(app)).res.status).toBe(401)
    expect((await scrape(app, { authorization: 'Bearer wrong' })).res.status).toBe(401)
    const { res, text } = await scrape(app, { authorization: 'Bearer scrape-secret' })
    expect(res.status).toBe(200)
    expect(text).toContain('llava_gateway_requests_total')
  })

  it('is not on the main port when a separate metrics port is configured', async () => {
    const { app } = buildTestApp({ ...testConfig(upstream.baseUrl), metrics: { port: 9464 } })
    expect((await scrape(app)).res.status).toBe(404)
  })

  it('labels requests with the configured metrics label of the model', async () => {
    const { app, deps } = buildTestApp({
      ...testConfig(upstream.baseUrl),
      models: [{ id: MODEL, backend: 'main', metricsLabel: 'llava15' }],
    })
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect((await deps.metrics.requests.get()).values.map((v) => v.labels['model'])).toEqual(['llava15'])
  })
})
