import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/load.js'
import { gif, png } from '../fixtures/images.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, completionChunks } from '../helpers/fake-upstream.js'
import { imageConfig, ImageServer } from '../helpers/image-server.js'
import { counterSum } from '../helpers/metric-values.js'
import { errorStatus, failure, json, ScriptedUpstream, sse, type ScriptedCall } from '../helpers/scripted-upstream.js'
import { jsonChunks } from '../helpers/sse.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'

// A model can name fallback backends: tried in order when the one before cannot take the request.
// The backends are scripted (no sockets, no timers): a timeout is the error undici would raise.

let imageHost: ImageServer

beforeAll(async () => {
  imageHost = await ImageServer.start()
  imageHost.image('/photo.png', png(32, 32))
})
afterAll(() => imageHost.close())

const NEVER_DIALLED = 'http://127.0.0.1:9/v1' // the scripted client stands in for undici

/** An app whose model runs on `local`, falling back to `hosted` (and `spare`, when configured), all scripted. */
function appWith(backends: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}) {
  const upstream = new ScriptedUpstream()
  const names = Object.keys(backends)
  const built = buildTestApp(
    {
      ...testConfig(NEVER_DIALLED),
      backends: Object.fromEntries(Object.entries(backends).map(([name, b]) => [name, { baseUrl: NEVER_DIALLED, ...b }])),
      models: [{ id: MODEL, backend: 'local', fallbacks: names.length > 1 ? names.slice(1) : ['hosted'], ...extra }],
      images: imageConfig(imageHost),
    },
    { upstreamClient: upstream },
  )
  upstream.answer('local', json(200, chatCompletion({ content: 'local' })))
  upstream.answer('hosted', json(200, chatCompletion({ content: 'fallback' })))
  return { ...built, upstream }
}
const twoBackends = (local: Record<string, unknown> = {}, hosted: Record<string, unknown> = {}) => appWith({ local, hosted })
const ask = (app: ReturnType<typeof appWith>['app'], body: Record<string, unknown> = userText('hi')) =>
  app.request('/v1/chat/completions', chatRequest(body))
const contentOf = async (res: Response) =>
  ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content
const failovers = (deps: ReturnType<typeof appWith>['deps'], backend?: string) =>
  counterSum(deps.metrics.backendFailovers, backend === undefined ? { model: MODEL } : { model: MODEL, backend })
/** Whether the answer a call got was read to its end (drained) by the time queued work has run. */
const drained = async (call: ScriptedCall | undefined) => {
  await new Promise((resolve) => setImmediate(resolve))
  return call?.answer?.body.readableEnded
}

describe('failover to the next backend', () => {
  it('uses the fallback when the first backend refuses connections, and counts it', async () => {
    const { app, deps, upstream } = twoBackends()
    upstream.answer('local', failure('ECONNREFUSED'))
    const res = await ask(app)
    expect(res.status).toBe(200)
    expect(await contentOf(res)).toBe('fallback')
    expect(await failovers(deps, 'local')).toBe(1)
  })

  it('uses the fallback after a connect timeout: the first backend never saw the request', async () => {
    const { app, deps, upstream } = twoBackends()
    upstream.answer('local', failure('UND_ERR_CONNECT_TIMEOUT'))
    const res = await ask(app)
    expect(res.status).toBe(200)
    expect(await contentOf(res)).toBe('fallback')
    expect(upstream.calls.map((c) => c.backend)).toEqual(['local', 'hosted'])
    expect(await failovers(deps, 'local')).toBe(1)
  })

  it.each([429, 502, 503, 504])('moves on when the first backend answers %i, draining that answer', async (status) => {
    const { app, deps, upstream } = twoBackends()
    upstream.answer('local', errorStatus(status))
    const res = await ask(app)
    expect(await contentOf(res)).toBe('fallback')
    expect([upstream.callsTo('local').length, upstream.callsTo('hosted').length]).toEqual([1, 1])
    expect(await drained(upstream.callsTo('local')[0])).toBe(true) // read to its end, so its connection is reused
    expect(await failovers(deps, 'local')).toBe(1)
  })

  it('returns a 400 about the request as it is: another backend would refuse it too', async () => {
    const { app, deps, upstream } = twoBackends()
    upstream.answer('local', errorStatus(400, 'context too long'))
    const res = await ask(app)
    const error = await errorOf(res, 400)
    expect(error.message).toContain('context too long')
    expect(upstream.callsTo('hosted')).toHaveLength(0)
    expect(await failovers(deps)).toBe(0)
  })

  it('does not repeat a request the first backend accepted and then sat on (headers timeout): 504', async () => {
    const { app, deps, upstream } = twoBackends()
    upstream.answer('local', failure('UND_ERR_HEADERS_TIMEOUT'))
    const error = await errorOf(await ask(app), 504, 'upstream_timeout')
    expect(error.message).toContain('Backend "local" did not answer in time')
    expect(upstream.callsTo('hosted')).toHaveLength(0)
    expect(await failovers(deps)).toBe(0)
  })

  it('returns the last backend’s answer as it is when every backend is overloaded', async () => {
    const { app, upstream } = twoBackends()
    upstream.answer('local', errorStatus(503, 'first busy', { 'retry-after': '1' }))
    upstream.answer('hosted', errorStatus(503, 'last busy', { 'retry-after': '7' }))
    const res = await ask(app)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('7')
    const error = await errorOf(res)
    expect(error.raw).toContain('last busy')
    expect(error.raw).not.toContain('first busy')
  })

  it('answers with the last backend’s failure when none can be reached', async () => {
    const { app, deps, upstream } = twoBackends()
    upstream.answer('local', failure('ECONNREFUSED'))
    upstream.answer('hosted', failure('ECONNRESET'))
    const error = await errorOf(await ask(app), 502, 'upstream_unreachable')
    expect(error.message).toBe('Backend "hosted" could not be reached (ECONNRESET).')
    expect(await failovers(deps, 'local')).toBe(1)
    expect(await failovers(deps, 'hosted')).toBe(0) // the last one is not given up on: its failure is the answer
  })

  it('counts each backend given up on, and goes down the whole list in order', async () => {
    const { app, deps, upstream } = appWith({ local: {}, hosted: {}, spare: {} })
    upstream.answer('local', failure('ECONNREFUSED'))
    upstream.answer('hosted', errorStatus(429, 'slow down'))
    upstream.answer('spare', json(200, chatCompletion({ content: 'spare' })))
    expect(await contentOf(await ask(app))).toBe('spare')
    expect(upstream.calls.map((c) => c.backend)).toEqual(['local', 'hosted', 'spare'])
    expect([await failovers(deps, 'local'), await failovers(deps, 'hosted'), await failovers(deps, 'spare')]).toEqual([1, 1, 0])
    expect(await failovers(deps)).toBe(2)
  })

  it('streams the fallback’s answer when the first backend was overloaded', async () => {
    const { app, upstream } = twoBackends()
    upstream.answer('local', errorStatus(503))
    upstream.answer('hosted', sse(completionChunks(['from ', 'fallback'])))
    const res = await ask(app, { ...userText('hi'), stream: true })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const chunks = jsonChunks(await res.text()) as Array<{ choices: Array<{ delta: { content?: string } }> }>
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('from fallback')
    expect(upstream.callsTo('hosted')[0]?.body['stream_options']).toEqual({ include_usage: true })
  })

  it('speaks each backend’s dialect: image forwarding is per backend', async () => {
    const { app, upstream } = twoBackends({ imageForwarding: 'url' }, { imageForwarding: 'data' })
    upstream.answer('local', errorStatus(503, 'busy'))
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
    await ask(app, body)
    const sentUrl = (call: ScriptedCall | undefined) =>
      (call?.body['messages'] as Array<{ content: Array<{ image_url?: { url: string } }> }>)[0]?.content[0]?.image_url?.url
    expect(sentUrl(upstream.callsTo('local')[0])).toBe(url)
    expect(sentUrl(upstream.callsTo('hosted')[0])).toBe(`data:image/png;base64,${png(32, 32).toString('base64')}`)
  })

  it('skips an Ollama backend for a GIF, and refuses the GIF when Ollama is the only choice', async () => {
    const body = {
      model: MODEL,
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/gif;base64,${gif(16, 16).toString('base64')}` } }] },
      ],
    }
    const mixed = twoBackends({ kind: 'ollama' })
    expect(await contentOf(await ask(mixed.app, body))).toBe('fallback')
    expect(mixed.upstream.callsTo('local')).toHaveLength(0)
    const onlyOllama = twoBackends({ kind: 'ollama' }, { kind: 'ollama' })
    await errorOf(await ask(onlyOllama.app, body), 400, 'image_unsupported_format')
    expect(onlyOllama.upstream.calls).toHaveLength(0)
  })

  it('sends each backend the model under its own name', async () => {
    const { app, upstream } = appWith({ local: { kind: 'ollama' }, hosted: {} }, { backendModels: { local: 'llava:7b' } })
    upstream.answer('local', errorStatus(503, 'busy'))
    await ask(app)
    expect(upstream.callsTo('local')[0]?.body['model']).toBe('llava:7b')
    expect(upstream.callsTo('hosted')[0]?.body['model']).toBe(MODEL) // no name for it: the model's own id
  })

  it('refuses a config naming an unknown backend in backendModels', () => {
    expect(() => appWith({ local: {}, hosted: {} }, { backendModels: { ghost: 'x' } })).toThrow(
      /models\[0\]\.backendModels\.ghost: unknown backend "ghost"/,
    )
  })

  it('refuses a config whose fallback names an unknown backend', () => {
    expect(() => appWith({ local: {} })).toThrow(ConfigError)
    expect(() => appWith({ local: {} })).toThrow(/models\[0\]\.fallbacks\[0\]: unknown backend "hosted"/)
  })
})
