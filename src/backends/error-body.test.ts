import { describe, it, expect } from 'vitest'
import { toOpenAIError } from './error-body.js'

type Expected = { message: string; type: string; param: string | null; code: string | null }

const cases: { name: string; status: number; body: unknown; expected: Expected }[] = [
  {
    name: 'OpenAI nested error keeps its string code, type and param',
    status: 400,
    body: { error: { message: 'Invalid image.', type: 'invalid_request_error', param: 'messages', code: 'invalid_image' } },
    expected: { message: 'Invalid image.', type: 'invalid_request_error', param: 'messages', code: 'invalid_image' },
  },
  {
    name: 'Ollama nested error with only a message',
    status: 404,
    body: { error: { message: 'model "llava" not found, try pulling it first' } },
    expected: { message: 'model "llava" not found, try pulling it first', type: 'invalid_request_error', param: null, code: null },
  },
  {
    name: 'vLLM newer nested error: numeric code dropped, message and type kept',
    status: 400,
    body: { error: { message: 'max_tokens is too large', type: 'BadRequestError', param: null, code: 400 } },
    expected: { message: 'max_tokens is too large', type: 'BadRequestError', param: null, code: null },
  },
  {
    name: 'vLLM older flat error',
    status: 400,
    body: {
      object: 'error',
      message: "This model's maximum context length is 4096 tokens.",
      type: 'BadRequestError',
      param: null,
      code: 400,
    },
    expected: { message: "This model's maximum context length is 4096 tokens.", type: 'BadRequestError', param: null, code: null },
  },
  {
    name: 'flat error without the object marker but with a string message',
    status: 422,
    body: { message: 'bad things', type: 'validation_error', param: 'temperature', code: 'out_of_range' },
    expected: { message: 'bad things', type: 'validation_error', param: 'temperature', code: 'out_of_range' },
  },
  {
    name: 'llama.cpp nested error with numeric code',
    status: 503,
    body: { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } },
    expected: { message: 'Loading model', type: 'unavailable_error', param: null, code: null },
  },
  {
    name: 'TGI string error with error_type',
    status: 422,
    body: { error: 'Input validation error: `inputs` must have less than 4096 tokens', error_type: 'validation' },
    expected: {
      message: 'Input validation error: `inputs` must have less than 4096 tokens',
      type: 'invalid_request_error',
      param: null,
      code: 'validation',
    },
  },
  {
    name: 'FastAPI string detail',
    status: 404,
    body: { detail: 'Not Found' },
    expected: { message: 'Not Found', type: 'invalid_request_error', param: null, code: null },
  },
  {
    name: 'FastAPI object detail with error',
    status: 500,
    body: { detail: { error: 'CUDA out of memory' } },
    expected: { message: 'CUDA out of memory', type: 'server_error', param: null, code: null },
  },
  {
    name: 'FastAPI object detail with message',
    status: 400,
    body: { detail: { message: 'prompt too long' } },
    expected: { message: 'prompt too long', type: 'invalid_request_error', param: null, code: null },
  },
  {
    name: 'FastAPI validation list: first msg',
    status: 422,
    body: { detail: [{ msg: 'field required', loc: ['body', 'model'], type: 'value_error.missing' }, { msg: 'second' }] },
    expected: { message: 'field required', type: 'invalid_request_error', param: null, code: null },
  },
]

describe('toOpenAIError: backend dialects', () => {
  it.each(cases)('$name', ({ status, body, expected }) => {
    expect(toOpenAIError(status, body, 'local')).toEqual({ error: expected })
  })
})

describe('toOpenAIError: bodies it cannot read', () => {
  const SECRET = 'Traceback (most recent call last): /srv/app/secret.py'
  const fallback = (status: number) => `Backend "local" answered HTTP ${status}.`

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', SECRET],
    ['a number', 42],
    ['an array', [SECRET, { error: { message: SECRET } }]],
    ['an empty object', {}],
    ['an object of unknown shape', { trace: SECRET }],
    ['an error object with no message', { error: { type: 'x', stack: SECRET } }],
    ['an error object whose message is not a string', { error: { message: { text: SECRET } } }],
    ['an empty error string', { error: '' }],
    ['an empty detail list', { detail: [] }],
    ['a detail list of strings', { detail: [SECRET] }],
  ])('%s → a generic message naming the backend and status, not the body', (_name, body) => {
    const { error } = toOpenAIError(502, body, 'local')
    expect(error.message).toBe(fallback(502))
    expect(JSON.stringify(error)).not.toContain('secret.py')
  })

  it('names the backend it was given', () => {
    expect(toOpenAIError(500, undefined, 'deepinfra').error.message).toBe('Backend "deepinfra" answered HTTP 500.')
  })

  it('treats an empty type as missing', () => {
    expect(toOpenAIError(500, { error: { message: 'boom', type: '' } }, 'local').error.type).toBe('server_error')
  })

  it('drops a param that is not a string', () => {
    expect(toOpenAIError(400, { error: { message: 'x', param: 3 } }, 'local').error.param).toBeNull()
  })
})

describe('toOpenAIError: type fallback by status', () => {
  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'invalid_request_error'],
    [404, 'invalid_request_error'],
    [422, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'server_error'],
    [502, 'server_error'],
    [503, 'server_error'],
  ])('HTTP %i without a type → %s', (status, type) => {
    expect(toOpenAIError(status, { detail: 'x' }, 'local').error.type).toBe(type)
    expect(toOpenAIError(status, undefined, 'local').error.type).toBe(type)
  })
})

describe('toOpenAIError: shape', () => {
  it('cuts a very long message to 2000 characters', () => {
    const long = 'x'.repeat(10_000)
    expect(toOpenAIError(500, { error: { message: long } }, 'local').error.message).toBe('x'.repeat(2000))
    expect(toOpenAIError(500, { detail: long }, 'local').error.message).toHaveLength(2000)
    expect(toOpenAIError(500, { error: long }, 'local').error.message).toHaveLength(2000)
  })

  it('keeps a message of exactly 2000 characters whole', () => {
    const exact = 'y'.repeat(2000)
    expect(toOpenAIError(500, { detail: exact }, 'local').error.message).toBe(exact)
  })

  it.each([...cases.map((c) => c.body), undefined, 'text', [1, 2], { error: { message: 'm', extra: 1, stack: 's' } }])(
    'has exactly error.{message,type,param,code} for %j',
    (body) => {
      const result = toOpenAIError(500, body, 'local')
      expect(Object.keys(result)).toEqual(['error'])
      expect(Object.keys(result.error).sort()).toEqual(['code', 'message', 'param', 'type'])
    },
  )
})
