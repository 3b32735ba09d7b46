import { describe, it, expect } from 'vitest'
import { StreamAssembler } from './assemble.js'

const ENVELOPE = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'llava-1.5' }

/** A chunk with one choice delta, as OpenAI-compatible backends stream them. */
function chunk(
  delta: Record<string, unknown>,
  opts: { index?: number; finish?: string | null; logprobs?: unknown; envelope?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    ...(opts.envelope ?? ENVELOPE),
    choices: [{ index: opts.index ?? 0, delta, logprobs: opts.logprobs ?? null, finish_reason: opts.finish ?? null }],
  }
}

function assemble(chunks: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const assembler = new StreamAssembler()
  for (const c of chunks) assembler.add(c)
  return assembler.completion()
}

type Choice = { index: number; message: Record<string, unknown>; logprobs: unknown; finish_reason: unknown }
const choicesOf = (completion: Record<string, unknown>): Choice[] => completion['choices'] as Choice[]

function onlyChoice(completion: Record<string, unknown>): Choice {
  const choices = choicesOf(completion)
  expect(choices).toHaveLength(1)
  return choices[0] as Choice
}

describe('StreamAssembler: text', () => {
  it('concatenates content pieces in order', () => {
    const completion = assemble([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'A cat ' }),
      chunk({ content: 'on a ' }),
      chunk({ content: 'mat. 🐱' }),
      chunk({}, { finish: 'stop' }),
    ])
    expect(onlyChoice(completion)).toEqual({
      index: 0,
      message: { role: 'assistant', content: 'A cat on a mat. 🐱' },
      logprobs: null,
      finish_reason: 'stop',
    })
  })

  it('takes the role from the first delta', () => {
    const completion = assemble([chunk({ role: 'tool-ish', content: 'x' }), chunk({ content: 'y' }), chunk({}, { finish: 'stop' })])
    expect(onlyChoice(completion).message['role']).toBe('tool-ish')
  })

  it('defaults the role to assistant when no delta names one', () => {
    expect(onlyChoice(assemble([chunk({ content: 'x' }, { finish: 'stop' })])).message['role']).toBe('assistant')
  })

  it('has content null when no content arrived', () => {
    expect(onlyChoice(assemble([chunk({ role: 'assistant' }), chunk({}, { finish: 'length' })])).message['content']).toBeNull()
  })

  it('collects refusal text into message.refusal', () => {
    const completion = assemble([
      chunk({ role: 'assistant', refusal: 'I cannot ' }),
      chunk({ refusal: 'help with that.' }),
      chunk({}, { finish: 'stop' }),
    ])
    const message = onlyChoice(completion).message
    expect(message['refusal']).toBe('I cannot help with that.')
    expect(message['content']).toBeNull()
  })

  it('has no refusal key when none arrived', () => {
    expect(onlyChoice(assemble([chunk({ content: 'x' }, { finish: 'stop' })])).message).not.toHaveProperty('refusal')
  })
})

describe('StreamAssembler: choices', () => {
  it('keeps two interleaved choices (n=2) apart, ordered by index', () => {
    const completion = assemble([
      chunk({ role: 'assistant', content: '' }, { index: 1 }),
      chunk({ role: 'assistant', content: '' }, { index: 0 }),
      chunk({ content: 'B1 ' }, { index: 1 }),
      chunk({ content: 'A1 ' }, { index: 0 }),
      chunk({ content: 'A2' }, { index: 0 }),
      chunk({ content: 'B2' }, { index: 1 }),
      chunk({}, { index: 0, finish: 'stop' }),
      chunk({}, { index: 1, finish: 'length' }),
    ])
    const choices = choicesOf(completion)
    expect(choices.map((c) => [c.index, c.message['content'], c.finish_reason])).toEqual([
      [0, 'A1 A2', 'stop'],
      [1, 'B1 B2', 'length'],
    ])
  })

  it('reads several choices within one chunk', () => {
    const completion = assemble([
      {
        ...ENVELOPE,
        choices: [
          { index: 0, delta: { content: 'a' }, finish_reason: null },
          { index: 1, delta: { content: 'b' }, finish_reason: null },
        ],
      },
      {
        ...ENVELOPE,
        choices: [
          { index: 0, delta: {}, finish_reason: 'stop' },
          { index: 1, delta: {}, finish_reason: 'stop' },
        ],
      },
    ])
    expect(choicesOf(completion).map((c) => c.message['content'])).toEqual(['a', 'b'])
  })

  it('keeps finish_reason null for a choice that never finished, beside one that did', () => {
    const completion = assemble([
      chunk({ content: 'done' }, { index: 0 }),
      chunk({ content: 'cut o' }, { index: 1 }),
      chunk({}, { index: 0, finish: 'stop' }),
    ])
    expect(choicesOf(completion).map((c) => c.finish_reason)).toEqual(['stop', null])
  })

  it('keeps the finish_reason given with the last content piece', () => {
    expect(onlyChoice(assemble([chunk({ content: 'x' }, { finish: 'tool_calls' })])).finish_reason).toBe('tool_calls')
  })

  it('ignores chunks without a choices array, and non-object choices', () => {
    const completion = assemble([
      chunk({ content: 'a' }),
      { ...ENVELOPE, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } },
      { ...ENVELOPE },
      { ...ENVELOPE, choices: [null, 'x'] },
      chunk({ content: 'b' }, { finish: 'stop' }),
    ])
    expect(onlyChoice(completion).message['content']).toBe('ab')
  })
})

describe('StreamAssembler: tool calls', () => {
  it('merges tool calls by index: arguments streamed in pieces, id and type from the first piece', () => {
    const completion = assemble([
      chunk({
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, { finish: 'tool_calls' }),
    ])
    const choice = onlyChoice(completion)
    expect(choice.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    })
    expect(choice.finish_reason).toBe('tool_calls')
  })

  it('concatenates a name streamed in pieces and defaults the type to function', () => {
    const completion = assemble([
      chunk({ tool_calls: [{ index: 0, id: 'c', function: { name: 'get_' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'weather', arguments: '{}' } }] }),
      chunk({}, { finish: 'tool_calls' }),
    ])
    expect(onlyChoice(completion).message['tool_calls']).toEqual([
      { id: 'c', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
    ])
  })

  it('has no tool_calls key when none arrived', () => {
    expect(onlyChoice(assemble([chunk({ content: 'x' }, { finish: 'stop' })])).message).not.toHaveProperty('tool_calls')
  })
})

describe('StreamAssembler: logprobs', () => {
  it('appends logprobs content arrays across chunks', () => {
    const t1 = { token: 'A', logprob: -0.1, bytes: [65], top_logprobs: [] }
    const t2 = { token: ' cat', logprob: -0.5, bytes: [32, 99, 97, 116], top_logprobs: [] }
    const t3 = { token: '.', logprob: -0.01, bytes: [46], top_logprobs: [] }
    const completion = assemble([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'A' }, { logprobs: { content: [t1] } }),
      chunk({ content: ' cat.' }, { logprobs: { content: [t2, t3] } }),
      chunk({}, { finish: 'stop' }),
    ])
    expect(onlyChoice(completion).logprobs).toEqual({ content: [t1, t2, t3] })
  })

  it('has logprobs null when none arrived', () => {
    expect(onlyChoice(assemble([chunk({ content: 'x' }, { finish: 'stop' })])).logprobs).toBeNull()
  })
})

describe('StreamAssembler: envelope', () => {
  it('takes id, created, model and system_fingerprint from the first chunk, and object chat.completion', () => {
    const completion = assemble([
      chunk({ content: 'a' }, { envelope: { id: 'first', created: 1, model: 'm1', system_fingerprint: 'fp1' } }),
      chunk({ content: 'b' }, { envelope: { id: 'second', created: 2, model: 'm2', system_fingerprint: 'fp2' }, finish: 'stop' }),
    ])
    expect(completion).toMatchObject({ id: 'first', created: 1, model: 'm1', system_fingerprint: 'fp1', object: 'chat.completion' })
  })

  it('gives an empty choices list before any chunk', () => {
    expect(new StreamAssembler().completion()).toMatchObject({ object: 'chat.completion', choices: [] })
  })

  it('can be read part-way and then keeps assembling', () => {
    const assembler = new StreamAssembler()
    assembler.add(chunk({ content: 'a' }))
    expect(onlyChoice(assembler.completion())).toMatchObject({ message: { content: 'a' }, finish_reason: null })
    assembler.add(chunk({ content: 'b' }, { finish: 'stop' }))
    expect(onlyChoice(assembler.completion())).toMatchObject({ message: { content: 'ab' }, finish_reason: 'stop' })
  })
})
