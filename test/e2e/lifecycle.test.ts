import type { ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { drainServer } from '../../src/server/shutdown.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { buildTestApp, chatRequest, testConfig, userText } from '../helpers/test-app.js'

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

/** A promise with its resolver, to let a test hold the backend's answer until it chooses. */
function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('client disconnect', () => {
  it('aborts the backend request when a streaming client goes away', async () => {
    const arrived = deferred<{ aborted: Promise<void> }>()
    upstream.handle((call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(completionChunks(['first'])[0])}\n\n`)
      arrived.resolve(call) // and never finish: a long generation
    })
    const gateway = await listen(buildTestApp(testConfig(upstream.baseUrl)).app)
    try {
      const controller = new AbortController()
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        ...chatRequest({ ...userText('hi'), stream: true }),
        signal: controller.signal,
      })
      const reader = res.body!.getReader()
      const first = await reader.read()
      expect(new TextDecoder().decode(first.value as Uint8Array)).toContain('"role":"assistant"')
      const call = await arrived.promise
      controller.abort()
      await call.aborted // resolves only if the gateway dropped its backend request
    } finally {
      await gateway.close()
    }
  })

  it('aborts the backend request when a non-streaming client goes away', async () => {
    const arrived = deferred<{ aborted: Promise<void> }>()
    upstream.handle((call) => arrived.resolve(call)) // never answers
    const gateway = await listen(buildTestApp(testConfig(upstream.baseUrl)).app)
    try {
      const controller = new AbortController()
      const pending = fetch(`${gateway.url}/v1/chat/completions`, { ...chatRequest(userText('hi')), signal: controller.signal }).catch(
        (e: unknown) => e,
      )
      const call = await arrived.promise
      controller.abort()
      await call.aborted
      expect(await pending).toBeInstanceOf(Error)
    } finally {
      await gateway.close()
    }
  })
})

describe('graceful shutdown', () => {
  it('stops accepting, reports not ready, and lets in-flight requests finish', async () => {
    const arrived = deferred<ServerResponse>()
    upstream.handle((_call, res) => arrived.resolve(res))
    const lifecycle = { draining: false }
    const { app } = buildTestApp(testConfig(upstream.baseUrl), {}, lifecycle)
    const gateway = await listen(app)
    const inFlight = fetch(`${gateway.url}/v1/chat/completions`, chatRequest(userText('hi')))
    const backendRes = await arrived.promise

    const drained = drainServer(gateway.server, lifecycle, { delayMs: 0, graceMs: 10_000 }, createLogger('silent'))
    expect(lifecycle.draining).toBe(true)
    expect((await app.request('/readyz')).status).toBe(503)
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow() // no new connections

    replyJson(backendRes, 200, chatCompletion({ content: 'finished during shutdown' }))
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(JSON.stringify(await res.json())).toContain('finished during shutdown')
    await drained
  })

  it('closes requests still running when the grace period is over', async () => {
    upstream.handle(() => undefined) // never answers
    const lifecycle = { draining: false }
    const gateway = await listen(buildTestApp(testConfig(upstream.baseUrl), {}, lifecycle).app)
    const stuck = fetch(`${gateway.url}/v1/chat/completions`, chatRequest(userText('hi'))).catch((e: unknown) => e)
    while (upstream.calls.length === 0) await new Promise((r) => setImmediate(r))
    await drainServer(gateway.server, lifecycle, { delayMs: 0, graceMs: 50 }, createLogger('silent'))
    expect(await stuck).toBeInstanceOf(Error)
  })
})

describe('request ids and health', () => {
  it('echoes a safe client request id and replaces an unsafe one', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    const kept = await app.request('/healthz', { headers: { 'x-request-id': 'trace-123.abc' } })
    expect(kept.headers.get('x-request-id')).toBe('trace-123.abc')
    const replaced = await app.request('/healthz', { headers: { 'x-request-id': `bad id ${'x'.repeat(200)}` } })
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('answers /healthz and /readyz, and 404 in OpenAI shape for unknown routes', async () => {
    const { app } = buildTestApp(testConfig(upstream.baseUrl))
    expect(await (await app.request('/healthz')).json()).toEqual({ status: 'ok' })
    expect(await (await app.request('/readyz')).json()).toMatchObject({ status: 'ready', store: { kind: 'memory', up: true } })
    const missing = await app.request('/v1/embeddings', { method: 'POST' })
    await errorOf(missing, 404, 'not_found')
  })
})
