import { describe, expect, it } from 'vitest'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'

// Fallback models work as before pools: the model's next backend is tried once every replica of
// its own pool that could be tried has failed.

describe('fallbacks after a pool', () => {
  it('goes to the fallback backend once both replicas of the first refused, each tried once', async () => {
    const [gpu0, gpu1, spare] = await Promise.all([FakeUpstream.start(), FakeUpstream.start(), FakeUpstream.start()])
    for (const server of [gpu0, gpu1, spare]) closeAfterFile(server)
    for (const gpu of [gpu0, gpu1]) gpu.handle((_call, res) => replyJson(res, 503, { error: { message: 'overloaded' } }))
    spare.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'from the spare' })))
    const base = testConfig(spare.baseUrl)
    const { app, deps } = buildTestApp({
      ...base,
      backends: {
        local: { kind: 'vllm', urls: [gpu0.baseUrl, gpu1.baseUrl], healthCheck: { enabled: false } },
        spare: { kind: 'openai', baseUrl: spare.baseUrl, healthCheck: { enabled: false } },
      },
      models: [{ id: MODEL, backend: 'local', fallbacks: ['spare'] }],
    })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(200)
    expect(JSON.stringify(await res.json())).toContain('from the spare')
    expect([gpu0.calls.length, gpu1.calls.length, spare.calls.length]).toEqual([1, 1, 1])
    expect(await counterSum(deps.metrics.backendFailovers, { backend: 'local' })).toBe(1)
    expect(await counterSum(deps.metrics.backendRetries, { backend: 'local', result: 'sent' })).toBe(1)
  })
})
