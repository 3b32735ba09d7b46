import { describe, it, expect } from 'vitest'
import { parseCachedCompletion, toCacheEntry, type CachedCompletion } from '../cache/entry.js'
import type { Usage, UsageSource } from './usage.js'
import { toWholeCompletion } from './whole-completion.js'

const USAGE: Usage = { prompt_tokens: 600, completion_tokens: 12, total_tokens: 612, prompt_tokens_details: { image_tokens: 576 } }
const STORED_AT = 1_700_000_123_456

function completion(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'chatcmpl-abc',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'llava-hf/llava-1.5-7b-hf',
    system_fingerprint: 'fp_1',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'A cat.' }, logprobs: null, finish_reason: 'stop' },
      {
        index: 1,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
        },
        logprobs: { content: [{ token: 'x', logprob: -0.1, bytes: [120], top_logprobs: [] }] },
        finish_reason: 'tool_calls',
      },
    ],
    usage: USAGE,
    ...overrides,
  }
}

/** A backend body as the cache would keep it: made whole (or refused), then stamped with its source and time. */
function toCachedCompletion(
  body: Record<string, unknown>,
  usage: Usage,
  source: UsageSource,
  storedAt: number,
): CachedCompletion | undefined {
  const whole = toWholeCompletion(body, usage, storedAt)
  return whole && toCacheEntry(whole, source, storedAt)
}
const toEntry = (body: Record<string, unknown>) => toCachedCompletion(body, USAGE, 'upstream', STORED_AT)

describe('toWholeCompletion, kept as a cache entry', () => {
  it('keeps a complete completion, with the usage, its source and the time it was stored', () => {
    const entry = toEntry(completion())
    expect(entry).toEqual({
      id: 'chatcmpl-abc',
      created: 1_700_000_000,
      model: 'llava-hf/llava-1.5-7b-hf',
      system_fingerprint: 'fp_1',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'A cat.' }, logprobs: null, finish_reason: 'stop' },
        {
          index: 1,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
          },
          logprobs: { content: [{ token: 'x', logprob: -0.1, bytes: [120], top_logprobs: [] }] },
          finish_reason: 'tool_calls',
        },
      ],
      usage: USAGE,
      usageSource: 'upstream',
      storedAt: STORED_AT,
    })
  })

  it('round-trips through JSON and parseCachedCompletion', () => {
    const entry = toEntry(completion()) as CachedCompletion
    expect(parseCachedCompletion(JSON.stringify(entry))).toEqual(entry)
  })

  it('keeps the gateway as usage source when told so', () => {
    expect(toCachedCompletion(completion(), USAGE, 'gateway', STORED_AT)?.usageSource).toBe('gateway')
  })

  it('is undefined when a choice has finish_reason null (cut off: never cached)', () => {
    const body = completion()
    const choices = body['choices'] as Array<Record<string, unknown>>
    expect(toEntry({ ...body, choices: [choices[0], { ...choices[1], finish_reason: null }] })).toBeUndefined()
  })

  it('is undefined when a choice has no finish_reason or an empty one', () => {
    expect(toEntry(completion({ choices: [{ index: 0, message: { role: 'assistant', content: 'x' } }] }))).toBeUndefined()
    expect(
      toEntry(completion({ choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: '' }] })),
    ).toBeUndefined()
  })

  it('is undefined for empty or missing choices', () => {
    expect(toEntry(completion({ choices: [] }))).toBeUndefined()
    expect(toEntry(completion({ choices: undefined }))).toBeUndefined()
  })

  it('is undefined when a choice has no message object', () => {
    expect(toEntry(completion({ choices: [{ index: 0, finish_reason: 'stop' }] }))).toBeUndefined()
    expect(toEntry(completion({ choices: ['text'] }))).toBeUndefined()
  })

  it('stores non-string content as null', () => {
    const entry = toEntry(
      completion({
        choices: [{ index: 0, message: { role: 'assistant', content: [{ type: 'text', text: 'x' }] }, finish_reason: 'stop' }],
      }),
    )
    expect(entry?.choices[0]?.message.content).toBeNull()
  })

  it('fills the role, index and logprobs when the backend left them out', () => {
    const entry = toEntry(
      completion({
        choices: [
          { message: { content: 'a' }, finish_reason: 'stop' },
          { message: { content: 'b' }, finish_reason: 'stop' },
        ],
      }),
    )
    expect(entry?.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'a' }, logprobs: null, finish_reason: 'stop' },
      { index: 1, message: { role: 'assistant', content: 'b' }, logprobs: null, finish_reason: 'stop' },
    ])
  })

  it('keeps extra message fields (refusal) as they came', () => {
    const entry = toEntry(
      completion({ choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: 'No.' }, finish_reason: 'stop' }] }),
    )
    expect(entry?.choices[0]?.message).toEqual({ role: 'assistant', content: null, refusal: 'No.' })
  })

  it('fills id, created and model when missing, and leaves system_fingerprint out', () => {
    const entry = toEntry(completion({ id: undefined, created: undefined, model: undefined, system_fingerprint: undefined }))
    expect(entry).toMatchObject({ id: 'chatcmpl-cached', created: Math.floor(STORED_AT / 1000), model: '' })
    expect(entry).not.toHaveProperty('system_fingerprint')
  })
})

describe('parseCachedCompletion', () => {
  it('refuses an entry whose choices are not whole choices', () => {
    const broken = { choices: [null], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, storedAt: 1 }
    expect(parseCachedCompletion(JSON.stringify(broken))).toBeUndefined()
    const noFinish = { ...broken, choices: [{ index: 0, message: { role: 'assistant', content: 'x' } }] }
    expect(parseCachedCompletion(JSON.stringify(noFinish))).toBeUndefined()
  })

  const valid = toEntry(completion()) as CachedCompletion

  it.each([
    ['an empty string', ''],
    ['truncated JSON', JSON.stringify(valid).slice(0, 40)],
    ['not JSON', 'garbage'],
    ['a JSON string', '"text"'],
    ['JSON null', 'null'],
    ['a JSON array', '[1,2]'],
  ])('is undefined for %s', (_name, text) => {
    expect(parseCachedCompletion(text)).toBeUndefined()
  })

  it.each([
    ['choices', { ...valid, choices: undefined }],
    ['usage', { ...valid, usage: undefined }],
    ['storedAt', { ...valid, storedAt: undefined }],
  ])('is undefined when %s is missing', (_name, value) => {
    expect(parseCachedCompletion(JSON.stringify(value))).toBeUndefined()
  })

  it('is undefined when fields have the wrong type', () => {
    expect(parseCachedCompletion(JSON.stringify({ ...valid, choices: {} }))).toBeUndefined()
    expect(parseCachedCompletion(JSON.stringify({ ...valid, usage: 5 }))).toBeUndefined()
    expect(parseCachedCompletion(JSON.stringify({ ...valid, storedAt: '1700000000' }))).toBeUndefined()
  })
})
