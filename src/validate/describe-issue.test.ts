import { describe, it, expect } from 'vitest'
import type { GatewayError } from '../errors/gateway-error.js'
import { ChatRequestSchema } from './chat-request-schema.js'
import { describeIssues } from './describe-issue.js'

/** Parse as the validate step does (reportInput, so missing and invalid can be told apart) and describe the failure. */
function describeFailure(body: unknown): GatewayError {
  const result = ChatRequestSchema.safeParse(body, { reportInput: true })
  if (result.success) throw new Error(`expected ${JSON.stringify(body)} to be rejected`)
  return describeIssues(result.error.issues)
}

const MODEL = 'llava-hf/llava-1.5-7b-hf'
const user = (content: unknown) => ({ model: MODEL, messages: [{ role: 'user', content }] })
const withParams = (params: Record<string, unknown>) => ({ ...user('hi'), ...params })
const text = (t: unknown) => ({ type: 'text', text: t })
const image = (imageUrl: unknown) => ({ type: 'image_url', image_url: imageUrl })

describe('describeIssues: blames the deepest union branch', () => {
  it.each([
    ['an image url that is a number', user([text('hi'), image({ url: 5 })]), 'messages[0].content[1].image_url.url'],
    ['an empty image url', user([image({ url: '' })]), 'messages[0].content[0].image_url.url'],
    ['an unknown detail', user([image({ url: 'https://x/y.png', detail: 'ultra' })]), 'messages[0].content[0].image_url.detail'],
    ['image_url that is a string', user([image('https://x/y.png')]), 'messages[0].content[0].image_url'],
    ['text that is not a string', user([text('ok'), text(7)]), 'messages[0].content[1].text'],
    ['an unknown part type', user([text('ok'), { type: 'video', url: 'x' }]), 'messages[0].content[1].type'],
    ['a system message part', { model: MODEL, messages: [{ role: 'system', content: [text(1)] }] }, 'messages[0].content[0].text'],
    ['an unknown role', { model: MODEL, messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
  ])('%s → param %s', (_name, body, param) => {
    const error = describeFailure(body)
    expect(error.param).toBe(param)
    expect(error.message).toContain(`'${param}'`)
    expect(error.status).toBe(400)
  })

  it('names the offending type when a deep value has the wrong type', () => {
    const error = describeFailure(user([text('hi'), image({ url: 5 })]))
    expect(error.code).toBe('invalid_value')
    expect(error.message).toBe("Invalid value for 'messages[0].content[1].image_url.url': expected string, got integer.")
  })

  it('lists the allowed values of an enum', () => {
    const error = describeFailure(user([image({ url: 'https://x/y.png', detail: 'ultra' })]))
    expect(error.message).toContain('"auto", "low", "high"')
  })

  it('blames the content itself when it is neither a string nor a list', () => {
    const error = describeFailure(user(5))
    expect(error.param).toBe('messages[0].content')
    expect(error.code).toBe('invalid_value')
  })
})

describe('describeIssues: missing vs invalid', () => {
  it.each([
    ['model', { messages: [{ role: 'user', content: 'hi' }] }],
    ['messages', { model: MODEL }],
    ['messages[0].content', { model: MODEL, messages: [{ role: 'user' }] }],
    ['messages[0].tool_call_id', { model: MODEL, messages: [{ role: 'tool', content: 'x' }] }],
    ['messages[0].content[0].image_url', user([{ type: 'image_url' }])],
    ['messages[0].content[0].image_url.url', user([image({})])],
    ['messages[0].content[0].text', user([{ type: 'text' }])],
  ])('missing %s → missing_required_parameter', (param, body) => {
    const error = describeFailure(body)
    expect(error.code).toBe('missing_required_parameter')
    expect(error.param).toBe(param)
    expect(error.message).toBe(`Missing required parameter: '${param}'.`)
    expect(error.type).toBe('invalid_request_error')
  })

  it.each([
    ['model', { model: 7, messages: [{ role: 'user', content: 'hi' }] }, 'got integer'],
    ['model', { model: null, messages: [{ role: 'user', content: 'hi' }] }, 'got null'],
    ['messages', { model: MODEL, messages: 'hi' }, 'got string'],
    ['stream', withParams({ stream: 'yes' }), 'expected boolean, got string'],
    ['n', withParams({ n: 1.5 }), 'expected integer, got number'],
    ['messages[0].content[0].image_url.url', user([image({ url: null })]), 'got null'],
  ])('%s present but wrong → invalid_value (%s)', (param, body, explanation) => {
    const error = describeFailure(body)
    expect(error.code).toBe('invalid_value')
    expect(error.param).toBe(param)
    expect(error.message).toContain(`Invalid value for '${param}'`)
    expect(error.message).toContain(explanation)
  })

  it('names the refinement broken by a cross-field rule', () => {
    const error = describeFailure(withParams({ stream_options: { include_usage: true } }))
    expect(error.code).toBe('invalid_value')
    expect(error.param).toBe('stream_options')
    expect(error.message).toContain('only allowed when stream is true')
  })

  it('describes a body that is not an object as the request body', () => {
    const error = describeFailure('hello')
    expect(error.message).toBe('Invalid value for the request body: expected object, got string.')
  })

  it('falls back to a generic invalid_request when there is no issue', () => {
    const error = describeIssues([])
    expect(error.code).toBe('invalid_request')
    expect(error.param).toBeNull()
  })
})

describe('describeIssues: limits', () => {
  it.each([
    ['temperature', withParams({ temperature: 3 }), 'the value must be at most 2'],
    ['temperature', withParams({ temperature: -0.1 }), 'the value must be at least 0'],
    ['top_p', withParams({ top_p: 1.5 }), 'the value must be at most 1'],
    ['n', withParams({ n: 200 }), 'the value must be at most 128'],
    ['n', withParams({ n: 0 }), 'the value must be at least 1'],
    ['max_tokens', withParams({ max_tokens: 0 }), 'the value must be at least 1'],
    ['top_logprobs', withParams({ logprobs: true, top_logprobs: 21 }), 'the value must be at most 20'],
    ['frequency_penalty', withParams({ frequency_penalty: -3 }), 'the value must be at least -2'],
    ['stop', withParams({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'the list must be at most 4 item(s)'],
    ['messages', { model: MODEL, messages: [] }, 'the list must be at least 1 item(s)'],
    ['messages[0].content', user([]), 'the list must be at least 1 item(s)'],
    ['model', { model: '', messages: [{ role: 'user', content: 'hi' }] }, 'the text must be at least 1 character(s)'],
    ['logit_bias.50256', withParams({ logit_bias: { '50256': 101 } }), 'the value must be at most 100'],
  ])('%s out of range → message with the limit (%s)', (param, body, explanation) => {
    const error = describeFailure(body)
    expect(error.code).toBe('invalid_value')
    expect(error.param).toBe(param)
    expect(error.message).toBe(`Invalid value for '${param}': ${explanation}.`)
  })
})

describe('ChatRequestSchema: valid requests', () => {
  it('parses a vision request and keeps unknown keys at every level', () => {
    const body = {
      model: MODEL,
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          name: 'alice',
          content: [image({ url: 'data:image/png;base64,AAAA', detail: 'low', future: 1 }), text('what is this?')],
        },
        { role: 'assistant', content: null },
      ],
      stream: true,
      stream_options: { include_usage: true },
      temperature: null,
      max_tokens: 64,
      reasoning_effort: 'low',
      metadata: { trace: 'abc' },
    }
    const result = ChatRequestSchema.safeParse(body, { reportInput: true })
    expect(result.success).toBe(true)
    expect(result.data).toEqual(body)
    expect(result.data?.['reasoning_effort']).toBe('low')
    expect(result.data?.['metadata']).toEqual({ trace: 'abc' })
  })
})
