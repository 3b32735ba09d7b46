import { describe, expect, it } from 'vitest'
import { countTextTokens } from '../../src/meter/text-tokens.js'
import { errorOf } from '../helpers/errors.js'
import { chatCompletion, completionChunks } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { failure, held, json, openStream, ScriptedUpstream, streamed, undiciError } from '../helpers/scripted-upstream.js'
import { dataFrames } from '../helpers/sse.js'
import { buildTestApp, chatRequest, MODEL, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'
import { capturedLog } from '../helpers/captured-log.js'

// A backend that runs out of time, at each stage, and a client that leaves mid-stream. The backend
// is scripted: a timeout is the error undici raises when its timer fires, so no test waits for one
// (test/e2e/openai-sdk.test.ts keeps one real headers timeout on a socket, end to end).

/** An app with one backend, `main`, scripted; its access-log lines are parsed into `logged`. */
function gateway() {
  const upstream = new ScriptedUpstream()
  const { log, lines: logged } = capturedLog('info')
  const built = buildTestApp(testConfig('http://127.0.0.1:9/v1'), { upstreamClient: upstream, log })
  const send = (body: Record<string, unknown>, init: RequestInit = {}) =>
    built.app.request('/v1/chat/completions', { ...chatRequest(body), ...init })
  return { ...built, upstream, logged, send }
}
const completionTokens = (text: string) => countTextTokens(text, { bos: false, precedingSpace: false })
const frame = (event: unknown) => `data: ${JSON.stringify(event)}\n\n`

describe('a backend that runs out of time', () => {
  it.each([
    ['UND_ERR_CONNECT_TIMEOUT', 'connecting'],
    ['UND_ERR_HEADERS_TIMEOUT', 'waiting for the response to start'],
  ])('answers 504 upstream_timeout for %s, naming the stage', async (code, stage) => {
    const { send, upstream, logged } = gateway()
    upstream.answer('main', failure(code))
    const error = await errorOf(await send(userText('hi')), 504, 'upstream_timeout')
    expect(error.message).toBe(`Backend "main" did not answer in time (${stage}).`)
    expect(error.type).toBe('server_error')
    expect(logged.find((line) => line['path'] === '/v1/chat/completions')).toMatchObject({
      outcome: 'upstream_error',
      error: 'upstream_timeout',
    })
  })

  it('answers 504 when a JSON answer stops arriving half-way (body timeout)', async () => {
    const { send, upstream } = gateway()
    upstream.answer(
      'main',
      streamed(200, 'application/json', async function* () {
        yield '{"id":"chatcmpl-test","choices":['
        throw undiciError('UND_ERR_BODY_TIMEOUT')
      }),
    )
    const error = await errorOf(await send(userText('hi')), 504, 'upstream_timeout')
    expect(error.message).toBe('Backend "main" did not answer in time (waiting for more of the response).')
  })

  it('ends a stream that stops arriving with an upstream_timeout error frame, and meters what came', async () => {
    const { send, upstream, deps, logged } = gateway()
    const chunks = completionChunks(['Half an ', 'answer'])
    const stream = openStream()
    upstream.answer('main', stream.answer)
    stream.push(frame(chunks[0]) + frame(chunks[1]))
    stream.push(frame(chunks[2]))
    stream.fail(undiciError('UND_ERR_BODY_TIMEOUT'))
    const res = await send({ ...userText('hi'), stream: true })
    expect(res.status).toBe(200)
    const frames = dataFrames(await res.text())
    expect(frames.slice(0, 3).map((f) => JSON.parse(f) as unknown)).toEqual(chunks.slice(0, 3))
    expect(frames).toHaveLength(4) // no [DONE] after the error
    expect(JSON.parse(frames[3]!)).toMatchObject({ error: { code: 'upstream_timeout', type: 'server_error' } })
    expect(await counterSum(deps.metrics.completionTokens, { model: MODEL, source: 'gateway' })).toBe(completionTokens('Half an answer'))
    expect(logged.find((line) => line['path'] === '/v1/chat/completions')).toMatchObject({
      outcome: 'upstream_error',
      error: 'upstream_timeout',
    })
  })
})

describe('a client that leaves', () => {
  it('aborts the backend call when the client goes away mid-stream, and meters what it was sent', async () => {
    const { send, upstream, deps, logged } = gateway()
    const stream = openStream()
    upstream.answer('main', stream.answer)
    const chunks = completionChunks(['first words'])
    stream.push(frame(chunks[0]) + frame(chunks[1])) // and nothing more: a long generation
    const client = new AbortController()
    const res = await send({ ...userText('hi'), stream: true }, { signal: client.signal })
    const reader = res.body!.getReader()
    let seen = ''
    while (!seen.includes('first words')) seen += new TextDecoder().decode((await reader.read()).value as Uint8Array)
    client.abort()
    const [call] = upstream.calls
    await call!.aborted
    expect(call!.answer?.body.destroyed).toBe(true) // the backend's body is dropped, its connection with it
    // The request is recorded once its tokens are counted (off the event loop's critical path): the log line says when.
    await until(() => logged.some((line) => line['path'] === '/v1/chat/completions'), { timeoutMs: 2_000, what: 'the access log line' })
    expect(await counterSum(deps.metrics.completionTokens, { model: MODEL, source: 'gateway' })).toBe(completionTokens('first words'))
    expect(logged.find((line) => line['path'] === '/v1/chat/completions')).toMatchObject({ outcome: 'client_aborted', status: 499 })
    expect(await counterSum(deps.metrics.requests, { route: 'chat', status_class: '4xx' })).toBe(1)
  })

  it.each([
    ['before its headers', () => held(json(200, chatCompletion())).answer],
    ['while its body arrives', () => openStream().answer],
  ])('aborts the backend call when a non-streaming client goes away %s, and counts it as the client’s (499)', async (_when, answer) => {
    const { send, upstream, logged, deps } = gateway()
    upstream.answer('main', answer())
    const client = new AbortController()
    const pending = send(userText('hi'), { signal: client.signal })
    await upstream.untilCalls(1)
    client.abort()
    await upstream.calls[0]!.aborted
    await pending // the app still ends the request, for no one: what matters is what it recorded
    const line = logged.find((l) => l['path'] === '/v1/chat/completions')
    // The client's doing: 499 at info, never a 502 upstream_unreachable that would page an operator.
    expect(line).toMatchObject({ outcome: 'client_aborted', status: 499, error: 'client_closed_request', level: 30 })
    expect(await counterSum(deps.metrics.requests, { route: 'chat', status_class: '5xx' })).toBe(0)
    expect(await counterSum(deps.metrics.requests, { route: 'chat', status_class: '4xx' })).toBe(1)
  })

  it('counts a client that leaves mid-upload as 499, not as an unhandled 500', async () => {
    const { app, deps, logged } = gateway()
    const client = new AbortController()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"model": "llava-hf/llava-1.5-7b-hf", "messages": [{"role": "user", "content": "'))
      },
      pull(controller) {
        // The client goes away with half a body sent: the socket closes, the read fails.
        client.abort()
        controller.error(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
      },
    })
    const res = await app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      body,
      duplex: 'half',
      signal: client.signal,
    })
    expect(res.status).toBe(499)
    const line = logged.find((l) => l['path'] === '/v1/chat/completions')
    expect(line).toMatchObject({ status: 499, error: 'client_closed_request', level: 30 })
    expect(logged.filter((l) => (l['level'] as number) >= 50)).toEqual([]) // no "unhandled error"
    expect(await counterSum(deps.metrics.requests, { route: 'chat', status_class: '5xx' })).toBe(0)
  })
})

describe('a backend that streams without end', () => {
  it.each([
    [
      'one endless line',
      { maxStreamLineBytes: 1_024 },
      () => ['data: {"choices":[{"delta":{"content":"', 'x'.repeat(600), 'x'.repeat(600)],
    ],
    [
      'a stream past its total',
      { maxStreamBytes: 4_096 },
      () => Array.from({ length: 20 }, () => frame(completionChunks(['y'.repeat(300)])[1])),
    ],
  ])('%s: an upstream_bad_response frame, and the backend request dropped', async (_what, limits, chunks) => {
    const upstream = new ScriptedUpstream()
    const built = buildTestApp(
      { ...testConfig('http://127.0.0.1:9/v1'), backends: { main: { baseUrl: 'http://127.0.0.1:9/v1', ...limits } } },
      { upstreamClient: upstream },
    )
    const stream = openStream()
    upstream.answer('main', stream.answer)
    for (const chunk of chunks()) stream.push(chunk)
    const res = await built.app.request('/v1/chat/completions', chatRequest({ ...userText('hi'), stream: true }))
    const frames = dataFrames(await res.text())
    const last = JSON.parse(frames.at(-1)!) as { error: { code: string; message: string } }
    expect(last.error.code).toBe('upstream_bad_response')
    expect(last.error.message).toMatch(/past the gateway's limit/)
    expect(upstream.calls[0]!.answer?.body.destroyed).toBe(true) // dropped: its connection goes with it
  })
})
