import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { dataFrames, jsonChunks } from '../helpers/sse.js'
import { chatCompletion, completionChunks, FakeUpstream, replyJson, replySse } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, testConfig, userText, type TestApp } from '../helpers/test-app.js'

// Backends answer in many ways; the client always gets OpenAI's shapes, and never a backend's
// unreadable body echoed back.

let upstream: FakeUpstream
let gateway: TestApp
beforeAll(async () => {
  upstream = await FakeUpstream.start()
  gateway = buildTestApp(testConfig(upstream.baseUrl))
})
afterAll(() => upstream.close())

const send = (body: Record<string, unknown> = userText('hi')) => gateway.app.request('/v1/chat/completions', chatRequest(body))
const raw = (status: number, contentType: string, body: string) =>
  upstream.handle((_call, res) => {
    res.writeHead(status, { 'content-type': contentType })
    res.end(body)
  })

describe('bodies the gateway cannot read', () => {
  it('answers 502 upstream_bad_response for a 200 that is not JSON', async () => {
    raw(200, 'text/html', '<html>proxy login page</html>')
    const res = await send()
    expect(res.status).toBe(502)
    const error = await errorOf(res)
    expect(error.code).toBe('upstream_bad_response')
    expect(error.message).not.toContain('proxy login')
  })

  it('answers 502 for JSON that is not a chat completion', async () => {
    upstream.handle((_call, res) => replyJson(res, 200, { result: 'ok' }))
    expect((await errorOf(await send())).code).toBe('upstream_bad_response')
  })

  it('keeps the status of an error with an unreadable body, without echoing the body', async () => {
    raw(503, 'text/html', '<h1>Internal stack trace at 0x7ffd</h1>')
    const res = await send()
    expect(res.status).toBe(503)
    const error = await errorOf(res)
    expect(error).toMatchObject({ type: 'server_error', code: null })
    expect(error.message).toBe('Backend "main" answered HTTP 503.')
  })

  it('streams a JSON completion to a client that asked for a stream (a backend that ignored `stream`)', async () => {
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'Whole answer.' })))
    const res = await send({ ...userText('hi'), stream: true, stream_options: { include_usage: true } })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const chunks = jsonChunks(await res.text()) // ends in [DONE]
    expect(JSON.stringify(chunks)).toContain('Whole answer.')
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 593 } })
  })

  it("relays an answer too long to scan in one slice (over 1 MiB), with the client's model id", async () => {
    const long = 'llama '.repeat(200_000) // 1.2 MB of content: scanned a slice at a time
    upstream.handle((_call, res) => replyJson(res, 200, { ...chatCompletion({ content: long }), model: 'backend-name' }))
    const res = await send()
    expect(res.status).toBe(200)
    const body = (await res.json()) as { model: string; choices: Array<{ message: { content: string } }> }
    expect(body.model).toBe(userText('hi').model)
    expect(body.choices[0]?.message.content).toBe(long)
  })

  it('answers 502 when a streaming request gets an incomplete JSON completion', async () => {
    const cut = chatCompletion()
    cut.choices[0]!.finish_reason = null as unknown as string
    upstream.handle((_call, res) => replyJson(res, 200, cut))
    const res = await send({ ...userText('hi'), stream: true })
    expect(res.status).toBe(502)
    expect((await errorOf(res)).code).toBe('upstream_bad_response')
  })

  it('sends an error frame for a stream event that is not JSON', async () => {
    upstream.handle((_call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(`data: ${JSON.stringify(completionChunks(['ok'])[0])}\n\ndata: {not json\n\n`)
    })
    const frames = dataFrames(await (await send({ ...userText('hi'), stream: true })).text())
    expect(frames).toHaveLength(2)
    expect(JSON.parse(frames[1]!)).toMatchObject({ error: { code: 'upstream_bad_response' } })
  })
})

describe('backend error shapes', () => {
  it.each([
    [
      'vLLM (flat, numeric code)',
      400,
      { object: 'error', message: 'max_tokens too large', type: 'BadRequestError', param: null, code: 400 },
      'max_tokens too large',
    ],
    [
      'llama.cpp (nested, numeric code)',
      503,
      { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } },
      'Loading model',
    ],
    ['TGI', 422, { error: 'Input validation error: inputs too long', error_type: 'validation' }, 'Input validation error'],
  ])('translates %s into OpenAI’s shape with the same status', async (_name, status, body, message) => {
    upstream.handle((_call, res) => replyJson(res, status, body))
    const res = await send()
    expect(res.status).toBe(status)
    const { raw: _raw, ...error } = await errorOf(res)
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type'])
    expect(error.message).toContain(message)
    expect(typeof (error.code ?? '')).toBe('string') // a string or null, never a number
  })

  it('relays a stream with its chunks untouched when all is well', async () => {
    const chunks = completionChunks(['fine'])
    upstream.handle((_call, res) => replySse(res, chunks))
    const text = await (await send({ ...userText('hi'), stream: true })).text()
    expect(text).toBe(`${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`)
  })
})
