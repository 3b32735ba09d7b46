import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/load.js'
import type { ConfigInput } from '../../src/config/schema.js'
import { gif, png } from '../fixtures/images.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'

// A model can name fallback backends: tried in order when the one before cannot take the request.

let primary: FakeUpstream
let fallback: FakeUpstream
let imageHost: ImageServer
let closedUrl: string

beforeAll(async () => {
  primary = await FakeUpstream.start()
  fallback = await FakeUpstream.start()
  imageHost = await ImageServer.start()
  imageHost.image('/photo.png', png(32, 32))
  const closed = await FakeUpstream.start()
  closedUrl = closed.baseUrl
  await closed.close()
})
beforeEach(() => {
  for (const upstream of [primary, fallback]) {
    upstream.calls.length = 0
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: upstream === primary ? 'primary' : 'fallback' })))
  }
})
afterAll(async () => {
  await Promise.all([primary.close(), fallback.close(), imageHost.close()])
})

const timeouts = { connectMs: 1_000, headersMs: 150, bodyIdleMs: 1_000 }
function appWith(backends: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}) {
  return buildTestApp({
    ...testConfig(primary.baseUrl),
    backends: Object.fromEntries(Object.entries(backends).map(([name, b]) => [name, { timeouts, ...b }])) as ConfigInput['backends'],
    models: [{ id: MODEL, backend: 'local', fallbacks: ['hosted'], ...extra }],
    images: imageConfig(imageHost),
  })
}
const contentOf = async (res: Response) =>
  ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content

describe('failover to the next backend', () => {
  it('uses the fallback when the first backend refuses connections, and counts it', async () => {
    const { app, deps } = appWith({ local: { baseUrl: closedUrl }, hosted: { baseUrl: fallback.baseUrl } })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(200)
    expect(await contentOf(res)).toBe('fallback')
    expect(await counterSum(deps.metrics.backendFailovers, { model: MODEL, backend: 'local' })).toBe(1)
  })

  it.each([429, 502, 503, 504])('moves on when the first backend answers %i', async (status) => {
    primary.handle((_call, res) => replyJson(res, status, { error: { message: 'not now', type: 'server_error' } }))
    const { app } = appWith({ local: { baseUrl: primary.baseUrl }, hosted: { baseUrl: fallback.baseUrl } })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(await contentOf(res)).toBe('fallback')
    expect([primary.calls.length, fallback.calls.length]).toEqual([1, 1])
  })

  it('returns a 400 about the request as it is: another backend would refuse it too', async () => {
    primary.handle((_call, res) => replyJson(res, 400, { error: { message: 'context too long', type: 'invalid_request_error' } }))
    const { app } = appWith({ local: { baseUrl: primary.baseUrl }, hosted: { baseUrl: fallback.baseUrl } })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(400)
    expect(fallback.calls).toHaveLength(0)
  })

  it('does not repeat a request the first backend accepted and then sat on (headers timeout)', async () => {
    primary.handle(() => undefined)
    const { app } = appWith({ local: { baseUrl: primary.baseUrl }, hosted: { baseUrl: fallback.baseUrl } })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(504)
    expect(fallback.calls).toHaveLength(0)
  })

  it('returns the last backend’s answer when every backend is overloaded', async () => {
    for (const upstream of [primary, fallback]) {
      upstream.handle((_call, res) =>
        replyJson(res, 503, { error: { message: `${upstream === primary ? 'first' : 'last'} busy`, type: 'server_error' } }),
      )
    }
    const { app } = appWith({ local: { baseUrl: primary.baseUrl }, hosted: { baseUrl: fallback.baseUrl } })
    const res = await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(res.status).toBe(503)
    expect(JSON.stringify(await res.json())).toContain('last busy')
  })

  it('speaks each backend’s dialect: image forwarding is per backend', async () => {
    primary.handle((_call, res) => replyJson(res, 503, { error: { message: 'busy', type: 'server_error' } }))
    const { app } = appWith({
      local: { baseUrl: primary.baseUrl, imageForwarding: 'url' },
      hosted: { baseUrl: fallback.baseUrl, imageForwarding: 'data' },
    })
    const url = imageHost.url('/photo.png')
    const body = {
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url } },
            { type: 'text', text: 'hi' },
          ],
        },
      ],
    }
    await app.request('/v1/chat/completions', chatRequest(body))
    const sentUrl = (call: FakeUpstream['calls'][number] | undefined) =>
      (call?.body['messages'] as Array<{ content: Array<{ image_url?: { url: string } }> }>)[0]?.content[0]?.image_url?.url
    expect(sentUrl(primary.calls[0])).toBe(url)
    expect(sentUrl(fallback.calls[0])).toBe(`data:image/png;base64,${png(32, 32).toString('base64')}`)
  })

  it('skips an Ollama backend for a GIF, and refuses the GIF when Ollama is the only choice', async () => {
    const body = {
      model: MODEL,
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/gif;base64,${gif(16, 16).toString('base64')}` } }] },
      ],
    }
    const mixed = appWith({ local: { baseUrl: primary.baseUrl, kind: 'ollama' }, hosted: { baseUrl: fallback.baseUrl } })
    expect(await contentOf(await mixed.app.request('/v1/chat/completions', chatRequest(body)))).toBe('fallback')
    expect(primary.calls).toHaveLength(0)
    const onlyOllama = appWith({
      local: { baseUrl: primary.baseUrl, kind: 'ollama' },
      hosted: { baseUrl: fallback.baseUrl, kind: 'ollama' },
    })
    const res = await onlyOllama.app.request('/v1/chat/completions', chatRequest(body))
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('image_unsupported_format')
  })

  it('sends each backend the model under its own name', async () => {
    primary.handle((_call, res) => replyJson(res, 503, { error: { message: 'busy', type: 'server_error' } }))
    const { app } = appWith(
      { local: { baseUrl: primary.baseUrl, kind: 'ollama' }, hosted: { baseUrl: fallback.baseUrl } },
      { backendModels: { local: 'llava:7b' } },
    )
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(primary.calls[0]?.body['model']).toBe('llava:7b')
    expect(fallback.calls[0]?.body['model']).toBe(MODEL) // no name for it: the model's own id
  })

  it('refuses a config naming an unknown backend in backendModels', () => {
    expect(() =>
      appWith({ local: { baseUrl: primary.baseUrl }, hosted: { baseUrl: fallback.baseUrl } }, { backendModels: { ghost: 'x' } }),
    ).toThrow(/models\[0\]\.backendModels\.ghost: unknown backend "ghost"/)
  })

  it('refuses a config whose fallback names an unknown backend', () => {
    expect(() => appWith({ local: { baseUrl: primary.baseUrl } })).toThrow(ConfigError)
    expect(() => appWith({ local: { baseUrl: primary.baseUrl } })).toThrow(/models\[0\]\.fallbacks\[0\]: unknown backend "hosted"/)
  })
})
