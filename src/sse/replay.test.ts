import { describe, it, expect } from 'vitest'
import type { CachedCompletion } from '../cache/entry.js'
import type { Usage } from '../completion/usage.js'
import { toChatCompletionBody, type CompletionChoice as CachedChoice } from '../completion/whole-completion.js'
import { StreamAssembler } from './assemble.js'
import { SseParser } from './parse.js'
import { replayStream } from './replay.js'
import { jsonChunks, readText } from '../../test/helpers/sse.js'

const replayJson = toChatCompletionBody

const USAGE: Usage = { prompt_tokens: 600, completion_tokens: 5, total_tokens: 605, prompt_tokens_details: { image_tokens: 576 } }

const LOGPROBS = { content: [{ token: 'A', logprob: -0.1, bytes: [65], top_logprobs: [] }] }

function entry(choices: CachedChoice[], overrides: Partial<CachedCompletion> = {}): CachedCompletion {
  return {
    id: 'chatcmpl-cached-1',
    created: 1_700_000_000,
    model: 'llava-hf/llava-1.5-7b-hf',
    choices,
    usage: USAGE,
    usageSource: 'upstream',
    storedAt: 1_700_000_100_000,
    ...overrides,
  }
}

const TEXT: CachedChoice = { index: 0, message: { role: 'assistant', content: 'A cat on a mat.' }, logprobs: null, finish_reason: 'stop' }
const TOOL: CachedChoice = {
  index: 0,
  message: {
    role: 'assistant',
    content: null,
    tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ],
  },
  logprobs: null,
  finish_reason: 'tool_calls',
}

/** The JSON chunks of a replayed stream: `data:` frames only, ending in [DONE] (checked). */
const chunks = async (stream: ReadableStream<Uint8Array>) => jsonChunks(await readText(stream))

type ChunkChoice = { index: number; delta: Record<string, unknown>; logprobs: unknown; finish_reason: unknown }
const choicesOf = (chunk: Record<string, unknown>): ChunkChoice[] => chunk['choices'] as ChunkChoice[]

describe('toChatCompletionBody (a cache hit answered as JSON)', () => {
  it('gives a chat.completion with the choices and usage of the entry', () => {
    const cached = entry([TEXT])
    expect(replayJson(cached)).toEqual({
      id: 'chatcmpl-cached-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [TEXT],
      usage: USAGE,
    })
  })

  it('keeps system_fingerprint when the entry has one, and never leaks storedAt or usageSource', () => {
    const body = replayJson(entry([TEXT], { system_fingerprint: 'fp_1' }))
    expect(body['system_fingerprint']).toBe('fp_1')
    expect(body).not.toHaveProperty('storedAt')
    expect(body).not.toHaveProperty('usageSource')
  })
})

describe('replayStream: framing', () => {
  it('writes data frames only, ending with data: [DONE]', async () => {
    const text = await readText(replayStream(entry([TEXT]), false).toWebStream())
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(text.split('data: [DONE]')).toHaveLength(2)
    expect(jsonChunks(text).length).toBeGreaterThan(0) // data frames only, each JSON but the final [DONE]
  })

  it('sends the role chunk, then the content, then the finish chunk, each a chat.completion.chunk with the envelope', async () => {
    const all = await chunks(replayStream(entry([TEXT], { system_fingerprint: 'fp_1' }), false).toWebStream())
    expect(all).toHaveLength(3)
    for (const c of all) {
      expect(c).toMatchObject({
        id: 'chatcmpl-cached-1',
        object: 'chat.completion.chunk',
        created: 1_700_000_000,
        model: 'llava-hf/llava-1.5-7b-hf',
        system_fingerprint: 'fp_1',
      })
    }
    const [role, content, finish] = all.map((c) => choicesOf(c))
    expect(role).toEqual([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])
    expect(content).toEqual([{ index: 0, delta: { content: 'A cat on a mat.' }, logprobs: null, finish_reason: null }])
    expect(finish).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }])
  })

  it('sends role, content and finish for each choice with its own index (n=2)', async () => {
    const second: CachedChoice = { index: 1, message: { role: 'assistant', content: 'A dog.' }, logprobs: null, finish_reason: 'length' }
    const all = await chunks(replayStream(entry([TEXT, second]), false).toWebStream())
    const seen = all.flatMap((c) => choicesOf(c)).map((c) => [c.index, c.delta['role'] ?? c.delta['content'] ?? c.finish_reason])
    expect(seen).toEqual([
      [0, 'assistant'],
      [0, 'A cat on a mat.'],
      [0, 'stop'],
      [1, 'assistant'],
      [1, 'A dog.'],
      [1, 'length'],
    ])
  })

  it('sends the logprobs with the content chunk', async () => {
    const all = await chunks(replayStream(entry([{ ...TEXT, logprobs: LOGPROBS }]), false).toWebStream())
    expect(choicesOf(all[1] as Record<string, unknown>)[0]?.logprobs).toEqual(LOGPROBS)
  })

  it('sends no content chunk for an empty answer', async () => {
    const all = await chunks(replayStream(entry([{ ...TEXT, message: { role: 'assistant', content: '' } }]), false).toWebStream())
    expect(all.map((c) => choicesOf(c)[0]?.finish_reason)).toEqual([null, 'stop'])
  })
})

describe('replayStream: usage', () => {
  it('with includeUsage: the usage chunk (choices: [], usage) is last before [DONE]; every other chunk has usage: null', async () => {
    const all = await chunks(replayStream(entry([TEXT]), true).toWebStream())
    const last = all.at(-1) as Record<string, unknown>
    expect(last).toEqual({
      id: 'chatcmpl-cached-1',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [],
      usage: USAGE,
    })
    const rest = all.slice(0, -1)
    expect(rest).toHaveLength(3)
    for (const c of rest) expect(c['usage']).toBeNull()
  })

  it('without includeUsage: no chunk has a usage key', async () => {
    const all = await chunks(replayStream(entry([TEXT]), false).toWebStream())
    for (const c of all) expect(c).not.toHaveProperty('usage')
    expect(all.every((c) => choicesOf(c).length === 1)).toBe(true)
  })
})

describe('replayStream: tool calls', () => {
  it('replays tool calls with their index in the delta', async () => {
    const all = await chunks(replayStream(entry([TOOL]), false).toWebStream())
    const deltas = all.flatMap((c) => choicesOf(c)).map((c) => c.delta)
    const withCalls = deltas.filter((d) => d['tool_calls'] !== undefined)
    expect(withCalls).toHaveLength(1)
    expect(withCalls[0]).toEqual({
      tool_calls: [
        { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    })
    expect(all.map((c) => choicesOf(c)[0]?.finish_reason).at(-1)).toBe('tool_calls')
  })
})

/** What the gateway's own stream capture does with a stream: SseParser, then StreamAssembler. */
async function reassemble(stream: ReadableStream<Uint8Array>): Promise<Record<string, unknown>> {
  const parser = new SseParser()
  const assembler = new StreamAssembler()
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer())
  // Split into small pieces so events cross chunk boundaries, as they do on a socket.
  const events = []
  for (let i = 0; i < bytes.length; i += 7) events.push(...parser.push(bytes.subarray(i, i + 7)))
  events.push(...parser.end())
  expect(events.at(-1)?.data).toBe('[DONE]')
  for (const event of events.slice(0, -1)) assembler.add(JSON.parse(event.data) as Record<string, unknown>)
  return assembler.completion()
}

describe('replayStream: round trip through SseParser and StreamAssembler', () => {
  it('assembles back to the original text choice', async () => {
    const original = entry([TEXT])
    const assembled = await reassemble(replayStream(original, true).toWebStream())
    expect(assembled['choices']).toEqual(original.choices)
    expect(assembled).toMatchObject({ id: original.id, created: original.created, model: original.model })
  })

  it('assembles back to the original choices for n=2 with logprobs', async () => {
    const original = entry([
      { ...TEXT, logprobs: LOGPROBS },
      { index: 1, message: { role: 'assistant', content: 'Another answer, "quoted" 🐱\n' }, logprobs: null, finish_reason: 'length' },
    ])
    const assembled = await reassemble(replayStream(original, false).toWebStream())
    expect(assembled['choices']).toEqual(original.choices)
  })

  it('assembles back the tool calls of a tool-call answer', async () => {
    const original = entry([TOOL])
    const assembled = await reassemble(replayStream(original, true).toWebStream())
    const [choice] = assembled['choices'] as CachedChoice[]
    expect(choice?.message['tool_calls']).toEqual(TOOL.message['tool_calls'])
    expect(choice?.finish_reason).toBe('tool_calls')
    expect(choice?.message.content).toBeNull() // as the original: a tool-call answer has no content
  })

  it('keeps a refusal answer without content', async () => {
    const refusal: CachedChoice = {
      index: 0,
      message: { role: 'assistant', content: null, refusal: 'I cannot help.' },
      logprobs: null,
      finish_reason: 'stop',
    }
    const assembled = await reassemble(replayStream(entry([refusal]), false).toWebStream())
    expect(assembled['choices']).toEqual([refusal])
  })
})
