import { describe, expect, it } from 'vitest'
import { formatLine } from '../../src/lib/pretty-log.js'
import { png } from '../fixtures/images.js'
import { completionChunks } from '../helpers/fake-upstream.js'
import { failure, ScriptedUpstream, sse } from '../helpers/scripted-upstream.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'
import { capturedLog } from '../helpers/captured-log.js'

// One access-log line per request, with what an operator needs to debug it from the line alone.

function gateway(level = 'debug') {
  const upstream = new ScriptedUpstream()
  const { log, lines } = capturedLog(level)
  const built = buildTestApp(testConfig('http://127.0.0.1:9/v1'), { upstreamClient: upstream, log })
  const requestLine = async (path: string) => {
    await until(() => lines.some((l) => l['msg'] !== undefined && l['path'] === path), { timeoutMs: 2_000, what: `the line for ${path}` })
    return lines.find((l) => l['path'] === path) as Record<string, unknown>
  }
  return { ...built, upstream, lines, requestLine }
}

const picture = `data:image/png;base64,${png(16, 12).toString('base64')}`

describe('the access log line', () => {
  it('carries request id, key, team, model, backend, status, cache, tokens, latencies, outcome and reordering', async () => {
    const { app, upstream, requestLine } = gateway()
    upstream.answer('main', sse(completionChunks(['A red square.'], { prompt_tokens: 600, completion_tokens: 4, total_tokens: 604 })))
    const body = {
      model: MODEL,
      stream: true,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is it?' },
            { type: 'image_url', image_url: { url: picture } },
          ],
        },
      ],
    }
    const res = await app.request('/v1/chat/completions', {
      ...chatRequest(body),
      headers: { ...(chatRequest(body).headers as object), 'x-request-id': 'req-42' },
    })
    await res.text()
    const line = await requestLine('/v1/chat/completions')
    expect(line).toMatchObject({
      level: 30,
      msg: 'request',
      requestId: 'req-42',
      method: 'POST',
      status: 200,
      key: 'team-a-key',
      team: 'team-a',
      model: MODEL,
      backend: 'main',
      outcome: 'completed',
      cache: 'bypass',
      promptTokens: 600,
      completionTokens: 4,
      imageTokens: 576,
      reordered: 1,
      images: 1,
    })
    expect(line['upstreamMs']).toEqual(expect.any(Number))
    expect(line['ttftMs']).toEqual(expect.any(Number))
    expect(line['durationMs']).toEqual(expect.any(Number))
    expect(line['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) // ISO 8601, not epoch milliseconds
  })

  it('logs a 502 at warn with its error code and reason, and a stream its backend broke at warn too', async () => {
    const { app, upstream, requestLine, lines } = gateway()
    upstream.answer('main', failure('ECONNREFUSED'))
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    expect(await requestLine('/v1/chat/completions')).toMatchObject({
      level: 40,
      msg: 'request failed',
      status: 502,
      error: 'upstream_unreachable',
      reason: 'Backend "main" could not be reached (ECONNREFUSED).',
    })
    lines.length = 0
    upstream.answer('main', sse(completionChunks(['cut']).slice(0, 2), { done: false }))
    await (await app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), stream: true }))).text()
    expect(await requestLine('/v1/chat/completions')).toMatchObject({
      level: 40,
      status: 200,
      outcome: 'upstream_error',
      error: 'upstream_stream_interrupted',
    })
  })

  it('logs probes and scrapes at debug only, and leaves them out of requests_total', async () => {
    const { app, requestLine, deps } = gateway()
    await app.request('/healthz')
    await app.request('/readyz')
    await app.request('/metrics')
    expect((await requestLine('/healthz'))['level']).toBe(20)
    expect((await requestLine('/metrics'))['level']).toBe(20)
    expect((await deps.metrics.requests.get()).values).toEqual([])
    const quiet = gateway('info')
    await quiet.app.request('/healthz')
    await quiet.app.request('/v1/models')
    await quiet.requestLine('/v1/models')
    expect(quiet.lines.some((l) => l['path'] === '/healthz')).toBe(false)
  })

  it('reads as one line of text with LOG_FORMAT=pretty', () => {
    const line = formatLine(
      JSON.stringify({ level: 30, time: '2026-12-01T10:00:00.000Z', msg: 'request', status: 200, model: 'a b', service: 'x' }),
    )
    expect(line).toBe('2026-12-01T10:00:00.000Z INFO  request status=200 model="a b"')
  })
})
