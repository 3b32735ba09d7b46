import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { counterSum } from '../helpers/metric-values.js'
import { buildTestApp, TEST_KEY, testConfig } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'
import { capturedLog } from '../helpers/captured-log.js'

// A client that leaves is the client's doing, over a real socket too: logged at info and counted
// as 499, never as an unhandled 500 or a 5xx an operator would be paged for.

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

function gatewayWithLog() {
  const { log, lines: logged } = capturedLog('info')
  return { ...buildTestApp(testConfig(upstream.baseUrl), { log }), logged }
}

describe('a client that leaves, over a real socket', () => {
  it('mid-upload: 499 at info, no error logged, nothing counted as 5xx', async () => {
    const { app, deps, logged } = gatewayWithLog()
    const server = await listen(app)
    try {
      const req = request(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}`, 'content-length': '10000' },
      })
      req.on('error', () => undefined) // the socket is destroyed on purpose
      req.write('{"model": "llava-hf/llava-1.5-7b-hf", "messages": [{"role": "user", "content": "')
      await new Promise<void>((resolve) => req.once('socket', (socket) => socket.once('connect', () => resolve())))
      req.destroy()
      await until(() => logged.some((l) => l['path'] === '/v1/chat/completions'), { timeoutMs: 5_000, what: 'the access log line' })
      const line = logged.find((l) => l['path'] === '/v1/chat/completions')
      expect(line).toMatchObject({ status: 499, error: 'client_closed_request', level: 30 })
      expect(logged.filter((l) => (l['level'] as number) >= 40)).toEqual([])
      expect(await counterSum(deps.metrics.requests, { route: 'chat', status_class: '5xx' })).toBe(0)
      expect(upstream.calls).toHaveLength(0)
    } finally {
      await server.close()
    }
  })

  /**
   * Sends a whole chat request over a real socket and leaves once the backend has it (and, when
   * `afterHeaders`, once the gateway's answer has begun); then the gateway must drop the backend's
   * request and log a 499 at info.
   */
  async function leave(body: object, { afterHeaders }: { afterHeaders: boolean }) {
    const { app, logged } = gatewayWithLog()
    const server = await listen(app)
    try {
      const calls = upstream.calls.length
      const req = request(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      })
      req.on('error', () => undefined) // the socket is destroyed on purpose
      const answered = new Promise<void>((resolve) => req.once('response', () => resolve()))
      req.end(JSON.stringify({ model: 'llava-hf/llava-1.5-7b-hf', messages: [{ role: 'user', content: 'hi' }], ...body }))
      await upstream.untilCalls(calls + 1)
      if (afterHeaders) await answered
      req.destroy()
      await upstream.calls.at(-1)?.aborted
      await until(() => logged.some((l) => l['path'] === '/v1/chat/completions'), { timeoutMs: 5_000, what: 'the access log line' })
      expect(logged.find((l) => l['path'] === '/v1/chat/completions')).toMatchObject({ status: 499, level: 30 })
    } finally {
      await server.close()
    }
  }

  it('while the backend works: the backend request is dropped, 499 at info', async () => {
    upstream.holdAnswers(() => undefined) // never answers
    await leave({}, { afterHeaders: false })
  })

  it('mid-stream: the backend stream is dropped, 499 at info', async () => {
    upstream.handle((_call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const chunk = {
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }],
      }
      res.write(`data: ${JSON.stringify(chunk)}\n\n`) // and nothing more: the stream stays open until the gateway drops it
    })
    await leave({ stream: true }, { afterHeaders: true })
  })
})
