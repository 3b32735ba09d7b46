import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, MODEL, TEST_KEY, testConfig, type TestApp } from '../helpers/test-app.js'

// Every bad request gets a 4xx in OpenAI's error shape naming the field (and the limit where
// there is one); none reaches the backend, none crashes or hangs the gateway.

let upstream: FakeUpstream
let gateway: TestApp

const BODY_LIMIT = 4096
const user = (content: unknown) => ({ model: MODEL, messages: [{ role: 'user', content }] })
const withParams = (params: Record<string, unknown>) => ({ ...user('hi'), ...params })
const image = (url: unknown) => ({ type: 'image_url', image_url: { url } })

type Case = {
  name: string
  body: unknown
  headers?: Record<string, string>
  status: number
  code: string
  param?: string | null
  message?: RegExp
}

const deepMetadata = `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(100)}${']'.repeat(100)}}`
const invalidUtf8 = Buffer.concat([
  Buffer.from(`{"model":"${MODEL}","messages":[{"role":"user","content":"caf`),
  Buffer.from([0xc3, 0x28]),
  Buffer.from('"}]}'),
])

const cases: Case[] = [
  { name: 'empty body', body: '', status: 400, code: 'invalid_json' },
  {
    name: 'JSON nested past the depth limit in a pass-through field',
    body: deepMetadata,
    status: 400,
    code: 'invalid_request',
    param: `metadata${'[0]'.repeat(63)}`,
    message: /deeper than 64 levels.*server\.maxJsonDepth/,
  },
  { name: 'invalid UTF-8', body: invalidUtf8, status: 400, code: 'invalid_json', message: /not valid UTF-8/ },
  {
    name: 'a charset other than UTF-8',
    body: user('hi'),
    headers: { 'content-type': 'application/json; charset=utf-16' },
    status: 415,
    code: 'unsupported_content_type',
    message: /utf-16/,
  },
  { name: 'body not JSON', body: '{"model": ', status: 400, code: 'invalid_json', message: /not valid JSON/ },
  { name: 'JSON array', body: '[1,2]', status: 400, code: 'invalid_request', message: /an array/ },
  { name: 'JSON string', body: '"hello"', status: 400, code: 'invalid_request', message: /got string/ },
  { name: 'JSON null', body: 'null', status: 400, code: 'invalid_request', message: /got null/ },
  { name: 'wrong content type', body: 'model=x', headers: { 'content-type': 'text/plain' }, status: 415, code: 'unsupported_content_type' },
  {
    name: 'form content type',
    body: 'a=b',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'unsupported_content_type',
  },
  {
    name: 'missing model',
    body: { messages: [{ role: 'user', content: 'hi' }] },
    status: 400,
    code: 'missing_required_parameter',
    param: 'model',
  },
  { name: 'model not a string', body: { model: 7, messages: [] }, status: 400, code: 'invalid_value', param: 'model' },
  {
    name: 'unknown model',
    body: { ...user('hi'), model: 'gpt-9' },
    status: 404,
    code: 'model_not_found',
    param: 'model',
    message: /gpt-9/,
  },
  { name: 'missing messages', body: { model: MODEL }, status: 400, code: 'missing_required_parameter', param: 'messages' },
  {
    name: 'empty messages',
    body: { model: MODEL, messages: [] },
    status: 400,
    code: 'invalid_value',
    param: 'messages',
    message: /at least 1/,
  },
  { name: 'messages not an array', body: { model: MODEL, messages: 'hi' }, status: 400, code: 'invalid_value', param: 'messages' },
  {
    name: 'unknown role',
    body: { model: MODEL, messages: [{ role: 'robot', content: 'x' }] },
    status: 400,
    code: 'invalid_value',
    param: 'messages[0].role',
  },
  {
    name: 'user content missing',
    body: { model: MODEL, messages: [{ role: 'user' }] },
    status: 400,
    code: 'missing_required_parameter',
    param: 'messages[0].content',
  },
  { name: 'content empty array', body: user([]), status: 400, code: 'invalid_value', param: 'messages[0].content' },
  {
    name: 'unknown part type',
    body: user([{ type: 'input_audio', input_audio: {} }]),
    status: 400,
    code: 'invalid_value',
    param: 'messages[0].content[0].type',
  },
  {
    name: 'image url not a string',
    body: user([{ type: 'text', text: 'a' }, image(5)]),
    status: 400,
    code: 'invalid_value',
    param: 'messages[0].content[1].image_url.url',
    message: /expected string/,
  },
  {
    name: 'image url missing',
    body: user([{ type: 'image_url', image_url: {} }]),
    status: 400,
    code: 'missing_required_parameter',
    param: 'messages[0].content[0].image_url.url',
  },
  { name: 'image url empty', body: user([image('')]), status: 400, code: 'invalid_value', param: 'messages[0].content[0].image_url.url' },
  {
    name: 'bad detail',
    body: user([{ type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'ultra' } }]),
    status: 400,
    code: 'invalid_value',
    param: 'messages[0].content[0].image_url.detail',
    message: /"auto", "low", "high"/,
  },
  {
    name: 'text part without text',
    body: user([{ type: 'text' }]),
    status: 400,
    code: 'missing_required_parameter',
    param: 'messages[0].content[0].text',
  },
  {
    name: 'image in a system message',
    body: {
      model: MODEL,
      messages: [
        { role: 'system', content: [image('https://x/y.png')] },
        { role: 'user', content: 'hi' },
      ],
    },
    status: 400,
    code: 'invalid_value',
    param: 'messages[0].content[0]',
    message: /only allowed in user messages/,
  },
  {
    name: 'image in an assistant message',
    body: {
      model: MODEL,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [image('https://x/y.png')] },
      ],
    },
    status: 400,
    code: 'invalid_value',
    param: 'messages[1].content[0]',
  },
  {
    name: 'tool message without tool_call_id',
    body: { model: MODEL, messages: [{ role: 'tool', content: 'x' }] },
    status: 400,
    code: 'missing_required_parameter',
    param: 'messages[0].tool_call_id',
  },
  {
    name: 'temperature above 2',
    body: withParams({ temperature: 2.5 }),
    status: 400,
    code: 'invalid_value',
    param: 'temperature',
    message: /at most 2/,
  },
  {
    name: 'temperature negative',
    body: withParams({ temperature: -1 }),
    status: 400,
    code: 'invalid_value',
    param: 'temperature',
    message: /at least 0/,
  },
  {
    name: 'temperature a string',
    body: withParams({ temperature: 'hot' }),
    status: 400,
    code: 'invalid_value',
    param: 'temperature',
    message: /expected number/,
  },
  { name: 'top_p above 1', body: withParams({ top_p: 1.5 }), status: 400, code: 'invalid_value', param: 'top_p', message: /at most 1/ },
  { name: 'n zero', body: withParams({ n: 0 }), status: 400, code: 'invalid_value', param: 'n', message: /at least 1/ },
  { name: 'n above 128', body: withParams({ n: 129 }), status: 400, code: 'invalid_value', param: 'n', message: /at most 128/ },
  {
    name: 'max_tokens fractional',
    body: withParams({ max_tokens: 1.5 }),
    status: 400,
    code: 'invalid_value',
    param: 'max_tokens',
    message: /integer/,
  },
  {
    name: 'max_completion_tokens zero',
    body: withParams({ max_completion_tokens: 0 }),
    status: 400,
    code: 'invalid_value',
    param: 'max_completion_tokens',
  },
  {
    name: 'five stop sequences',
    body: withParams({ stop: ['a', 'b', 'c', 'd', 'e'] }),
    status: 400,
    code: 'invalid_value',
    param: 'stop',
    message: /at most 4/,
  },
  { name: 'stream not a boolean', body: withParams({ stream: 'yes' }), status: 400, code: 'invalid_value', param: 'stream' },
  {
    name: 'stream_options without stream',
    body: withParams({ stream_options: { include_usage: true } }),
    status: 400,
    code: 'invalid_value',
    param: 'stream_options',
  },
  {
    name: 'unknown response_format',
    body: withParams({ response_format: { type: 'yaml' } }),
    status: 400,
    code: 'invalid_value',
    param: 'response_format.type',
  },
  {
    name: 'presence_penalty out of range',
    body: withParams({ presence_penalty: 3 }),
    status: 400,
    code: 'invalid_value',
    param: 'presence_penalty',
    message: /at most 2/,
  },
  {
    name: 'top_logprobs without logprobs',
    body: withParams({ top_logprobs: 3 }),
    status: 400,
    code: 'invalid_value',
    param: 'top_logprobs',
  },
  { name: 'seed fractional', body: withParams({ seed: 0.5 }), status: 400, code: 'invalid_value', param: 'seed' },
  {
    name: 'body over the limit',
    body: user('x'.repeat(BODY_LIMIT)),
    status: 413,
    code: 'request_too_large',
    message: new RegExp(`${BODY_LIMIT} bytes`),
  },
]

beforeAll(async () => {
  upstream = await FakeUpstream.start()
  gateway = buildTestApp({ ...testConfig(upstream.baseUrl), server: { bodyLimitBytes: BODY_LIMIT } })
})
afterAll(() => upstream.close())

describe('bad input', () => {
  it.each(cases)('$name → $status $code', async ({ body, headers, status, code, param, message }) => {
    const res = await gateway.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    })
    const { raw: _raw, ...error } = await errorOf(res, status, code)
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type'])
    expect(error.type).toBe('invalid_request_error')
    if (param !== undefined) expect(error.param).toBe(param)
    if (param) expect(error.message).toContain(param)
    if (message) expect(error.message).toMatch(message)
    expect(upstream.calls).toHaveLength(0)
  })

  it('refuses an oversized body sent without Content-Length while it streams in', async () => {
    const chunks = [JSON.stringify(user('x'.repeat(BODY_LIMIT * 2)))]
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift()
        if (next === undefined) controller.close()
        else controller.enqueue(new TextEncoder().encode(next))
      },
    })
    const res = await gateway.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    })
    await errorOf(res, 413, 'request_too_large')
  })

  it('accepts and forwards unknown top-level parameters untouched', async () => {
    const res = await gateway.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(withParams({ reasoning_effort: 'low', metadata: { a: '1' }, temperature: 0 })),
    })
    expect(res.status).toBe(200)
    const call = upstream.calls.pop()
    expect(call?.body).toMatchObject({ reasoning_effort: 'low', metadata: { a: '1' }, temperature: 0 })
  })
})

describe('large bodies within the body limit', () => {
  const post = (app: TestApp['app'], body: unknown) =>
    app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('refuses more than 4 MiB of JSON outside long strings before parsing it, and lets one long text reach the context check', async () => {
    const big = buildTestApp({ ...testConfig(upstream.baseUrl), server: { bodyLimitBytes: 16 * 1024 * 1024 } })
    const manySmall = user(Array.from({ length: 160_000 }, () => ({ type: 'text', text: 'hello world' })))
    const refused = await errorOf(await post(big.app, manySmall), 413, 'request_too_large')
    expect(refused.message).toMatch(/bytes of JSON outside its long strings .*the limit is 4194304/)
    // The same amount of text in one string is parsed (lifted out) and refused by the context window instead.
    await errorOf(await post(big.app, user('hello world '.repeat(500_000))), 400, 'context_length_exceeded')
    expect(upstream.calls).toHaveLength(0)
  })
})
