import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { completionChunks } from '../../test/helpers/fake-upstream.js'
import { dataFrames, encode, everySplit, jsonChunks, readText } from '../../test/helpers/sse.js'
import { settle } from '../../test/helpers/step-app.js'
import { UNLIMITED, type SseLimits } from './parse.js'
import { relayStream, type RelayOptions, type RelayResult } from './relay.js'

const USAGE = { prompt_tokens: 593, completion_tokens: 5, total_tokens: 598 }
const FILLED = { prompt_tokens: 593, completion_tokens: 99, total_tokens: 692, prompt_tokens_details: { image_tokens: 576 } }
// Multi-byte characters (2, 3 and 4 bytes in UTF-8), so some splits fall inside a character.
const PIECES = ['A cat ', 'on a mat, ', 'é “quoted” 🐱.']
const TEXT = PIECES.join('')

const sse = (events: readonly unknown[], done = true) =>
  events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : '')

/** A complete stream without usage: role chunk, content chunks, finish chunk, [DONE]. */
const PLAIN = sse(completionChunks(PIECES))
/** The same with `usage: null` on every chunk and a usage chunk (choices []) before [DONE], as vLLM sends it. */
const WITH_USAGE = sse(completionChunks(PIECES, USAGE))
const USAGE_CHUNK = completionChunks(PIECES, USAGE).at(-1) as Record<string, unknown>

const bodyOf = (...chunks: ReadonlyArray<Uint8Array | string>): Readable =>
  Readable.from(chunks.map((chunk) => (typeof chunk === 'string' ? encode(chunk) : chunk)))

/** A backend body the test feeds by hand, chunk by chunk as pushed; it never ends unless told to. */
function openBody(...first: string[]): Readable {
  const body = new Readable({ objectMode: true, read() {} })
  for (const chunk of first) body.push(encode(chunk))
  return body
}

/** relayStream with recording options: every onEnd result, onFirstContent and fillUsage calls. */
function relay(body: Readable, options: Partial<RelayOptions> = {}) {
  const results: RelayResult[] = []
  const filled: string[] = []
  const seen = { firstContent: 0 }
  const stream = relayStream(body, {
    backend: 'main',
    clientWantsUsage: false,
    assemble: true,
    fillUsage: async (text) => {
      filled.push(text)
      return FILLED
    },
    limits: UNLIMITED,
    onFirstContent: () => seen.firstContent++,
    onEnd: (result) => results.push(result),
    ...options,
  }).toWebStream()
  return { stream, results, filled, seen, body }
}

/** Relays `chunks` to the end: the text the client got and the one result. */
async function relayAll(chunks: ReadonlyArray<Uint8Array | string>, options: Partial<RelayOptions> = {}) {
  const run = relay(bodyOf(...chunks), options)
  const text = await readText(run.stream)
  expect(run.results).toHaveLength(1)
  return { ...run, text, result: run.results[0] as RelayResult }
}

const decoder = new TextDecoder()

/** A stream's whole text, read chunk by chunk (quicker than a Response, which matters a thousand times over). */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader()
  const utf8 = new TextDecoder()
  let text = ''
  for (let read = await reader.read(); !read.done; read = await reader.read()) text += utf8.decode(read.value, { stream: true })
  return text + utf8.decode()
}

/** Each split-at-every-byte test relays a stream about a thousand times: seconds on a busy two-core machine. */
const SPLIT_TIMEOUT = 30_000

/**
 * Relays `stream` whole, then split in two at every byte offset: each split must give the client
 * the same text, and onEnd the same result, as the whole stream did. Returns the whole run.
 */
async function relayEverySplit(stream: string, options: Partial<RelayOptions> = {}) {
  const whole = await relayAll([stream], options)
  const expected = JSON.stringify({ text: whole.text, results: whole.results, filled: whole.filled })
  const differ: number[] = []
  for (const [head, tail] of everySplit(encode(stream))) {
    const run = relay(bodyOf(head, tail), options)
    const text = await readAll(run.stream)
    if (JSON.stringify({ text, results: run.results, filled: run.filled }) !== expected) differ.push(head.length)
  }
  expect(differ, 'byte offsets where a split stream was relayed differently').toEqual([])
  return whole
}

const errorOfFrame = (data: string | undefined) => (JSON.parse(data ?? 'null') as { error: Record<string, unknown> }).error

describe('relayStream: a complete stream', () => {
  it('relays every frame as it came, ends completed, and reports the text and the assembled answer', async () => {
    const { text, result, filled } = await relayAll([PLAIN])
    expect(text).toBe(PLAIN)
    expect(result).toMatchObject({ outcome: 'completed', reported: undefined, text: TEXT, error: undefined })
    expect(result.assembled).toMatchObject({
      id: 'chatcmpl-test',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }],
    })
    expect(filled).toEqual([])
  })

  it(
    'relays the same frames and result whatever byte the stream is split at',
    async () => {
      const { text, result } = await relayEverySplit(PLAIN)
      expect(text).toBe(PLAIN)
      expect(result).toMatchObject({ outcome: 'completed', text: TEXT })
    },
    SPLIT_TIMEOUT,
  )

  it('relays the same frames when the stream comes one byte at a time', async () => {
    const bytes = encode(WITH_USAGE)
    const { text, result } = await relayAll(Array.from(bytes, (_b, i) => bytes.subarray(i, i + 1)))
    expect(text).toBe(
      dataFrames(WITH_USAGE)
        .slice(0, -2)
        .map((d) => `data: ${d}\n\n`)
        .join('') + 'data: [DONE]\n\n',
    )
    expect(result).toMatchObject({ outcome: 'completed', reported: USAGE, text: TEXT })
  })

  it('writes frames in the canonical form whatever line endings, comments and fields the backend used', async () => {
    const events = completionChunks(['hi'])
    const crlf = `: keep-alive\r\n\r\n${events.map((e) => `id: 1\r\ndata: ${JSON.stringify(e)}\r\n\r\n`).join('')}data: [DONE]\r\n\r\n`
    const { text, result } = await relayAll([crlf])
    expect(text).toBe(sse(events))
    expect(result.outcome).toBe('completed')
  })

  it('joins the frames from one backend chunk into one chunk for the client', async () => {
    const run = relay(bodyOf(PLAIN))
    const reader = run.stream.getReader()
    const first = await reader.read()
    expect(decoder.decode(first.value)).toBe(PLAIN)
    expect((await reader.read()).done).toBe(true)
  })

  it('stops at [DONE]: anything the backend sends after it is not relayed', async () => {
    const { text, result } = await relayAll([PLAIN + sse(completionChunks(['extra']))])
    expect(text).toBe(PLAIN)
    expect(result.text).toBe(TEXT)
  })

  it('reads a completed body out to its end instead of destroying it, so its connection can be reused', async () => {
    const run = relay(bodyOf(PLAIN))
    const errors: unknown[] = []
    run.body.on('error', (err) => errors.push(err))
    const ended = new Promise((resolve) => run.body.once('end', resolve))
    expect(await readText(run.stream)).toBe(PLAIN)
    await ended
    expect(run.body.readableEnded).toBe(true)
    expect(errors).toEqual([])
  })

  it('drops a body that goes on sending after [DONE], once the client has its answer', async () => {
    const run = relay(openBody(PLAIN))
    expect(await readText(run.stream)).toBe(PLAIN)
    expect(run.body.destroyed).toBe(false)
    run.body.push(encode('data: {"late":true}\n\n'))
    await settle()
    expect(run.body.destroyed).toBe(true)
    expect(run.results[0]?.outcome).toBe('completed')
  })

  it('leaves a completed body that stays open without more data to the backend timeout, with its error handled', async () => {
    const run = relay(openBody(PLAIN))
    expect(await readText(run.stream)).toBe(PLAIN)
    run.body.destroy(Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }))
    await settle()
    expect(run.body.destroyed).toBe(true)
    expect(run.results).toHaveLength(1)
  })
})

describe('relayStream: usage', () => {
  it(
    'strips the usage chunk the client did not ask for, and still reports the usage',
    async () => {
      const { text, result, filled } = await relayEverySplit(WITH_USAGE, { clientWantsUsage: false })
      const chunks = jsonChunks(text)
      expect(chunks).toHaveLength(completionChunks(PIECES).length)
      expect(chunks.every((c) => c['usage'] === null)).toBe(true)
      expect(result.reported).toEqual(USAGE)
      expect(filled).toEqual([])
    },
    SPLIT_TIMEOUT,
  )

  it('forwards the usage chunk when the client asked for it, as the backend sent it', async () => {
    const { text, result, filled } = await relayAll([WITH_USAGE], { clientWantsUsage: true })
    expect(text).toBe(WITH_USAGE)
    expect(jsonChunks(text).at(-1)).toEqual(USAGE_CHUNK)
    expect(result.reported).toEqual(USAGE)
    expect(filled).toEqual([])
  })

  it(
    'fills exactly one usage chunk (choices: [], right before [DONE]) when the client asked and the backend sent none',
    async () => {
      const { text, result, filled } = await relayEverySplit(PLAIN, { clientWantsUsage: true })
      const chunks = jsonChunks(text)
      expect(chunks.filter((c) => c['usage'] !== undefined)).toHaveLength(1)
      expect(chunks.at(-1)).toEqual({
        id: 'chatcmpl-test',
        created: 1_700_000_000,
        model: 'llava-hf/llava-1.5-7b-hf',
        object: 'chat.completion.chunk',
        choices: [],
        usage: FILLED,
      })
      expect(text.endsWith(`data: ${JSON.stringify(chunks.at(-1))}\n\ndata: [DONE]\n\n`)).toBe(true)
      expect(filled).toEqual([TEXT])
      expect(result.reported).toBeUndefined()
    },
    SPLIT_TIMEOUT,
  )

  it('relays, meters and fills the same without assembling, for a request the cache bypasses', async () => {
    const assembled = await relayAll([PLAIN], { clientWantsUsage: true })
    const bare = await relayAll([PLAIN], { clientWantsUsage: true, assemble: false })
    expect(bare.text).toBe(assembled.text)
    expect(bare.filled).toEqual([TEXT])
    expect(bare.result).toEqual({ ...assembled.result, assembled: undefined })
    expect(assembled.result.assembled).toBeDefined()
  })

  it('neither strips nor fills anything when the backend sent no usage and the client did not ask', async () => {
    const { text, filled } = await relayAll([PLAIN], { clientWantsUsage: false })
    expect(text).toBe(PLAIN)
    expect(filled).toEqual([])
  })

  it('takes usage given on the last content chunk: that chunk is relayed as it came, nothing is filled', async () => {
    const chunks = completionChunks(PIECES) as Array<Record<string, unknown>>
    const last = { ...(chunks.at(-1) as Record<string, unknown>), usage: USAGE }
    const stream = sse([...chunks.slice(0, -1), last])
    for (const clientWantsUsage of [true, false]) {
      const { text, result, filled } = await relayAll([stream], { clientWantsUsage })
      expect(text).toBe(stream)
      expect(jsonChunks(text).filter((c) => c['usage'] !== undefined)).toEqual([last])
      expect(result.reported).toEqual(USAGE)
      expect(filled).toEqual([])
      expect(result.assembled).toMatchObject({ choices: [{ message: { content: TEXT }, finish_reason: 'stop' }] })
    }
  })
})

describe('relayStream: errors become one OpenAI error frame', () => {
  const before = sse(completionChunks(['A cat']).slice(0, 2), false)
  const after = sse(completionChunks([' more']).slice(1))

  it('turns an `error` event into an error frame after what came before, and relays nothing after it', async () => {
    const error = { error: { message: 'Model overloaded.', type: 'server_error', code: 'overloaded' } }
    const { text, result, body } = await relayAll([`${before}event: error\ndata: ${JSON.stringify(error)}\n\n${after}`])
    const data = dataFrames(text)
    expect(text.startsWith(before)).toBe(true)
    expect(data).toHaveLength(3)
    expect(errorOfFrame(data.at(-1))).toEqual({ message: 'Model overloaded.', type: 'server_error', param: null, code: 'overloaded' })
    expect(result).toMatchObject({ outcome: 'upstream_error', text: 'A cat' })
    expect(result.error).toMatchObject({ code: 'overloaded', error: { message: 'Model overloaded.' } })
    expect(body.destroyed).toBe(true)
  })

  it('treats a data event carrying `error` the same, and codes one without a code upstream_error', async () => {
    const { text, result } = await relayAll([`${before}data: {"error":{"message":"CUDA out of memory"}}\n\n${after}`])
    const data = dataFrames(text)
    expect(errorOfFrame(data.at(-1))).toEqual({ message: 'CUDA out of memory', type: 'server_error', param: null, code: null })
    expect(result.outcome).toBe('upstream_error')
    expect(result.error?.code).toBe('upstream_error')
  })

  it('turns an `error` event whose data is JSON but not an object (a bare message) into an error frame too', async () => {
    // An `error` event is the backend saying it failed, whatever its data holds; the stream must not
    // go on as if nothing happened (here the backend even closes it with [DONE]).
    const { text, result } = await relayAll([`${before}event: error\ndata: "Model overloaded"\n\n${after}`])
    const data = dataFrames(text)
    expect(data).toHaveLength(3)
    expect(errorOfFrame(data.at(-1))).toMatchObject({ type: 'server_error' })
    expect(result.outcome).toBe('upstream_error')
  })

  it(
    'turns an event that is not JSON into an upstream_bad_response frame',
    async () => {
      const { text, result } = await relayEverySplit(`${before}data: {not json\n\n${after}`)
      const data = dataFrames(text)
      expect(data).toHaveLength(3)
      expect(errorOfFrame(data.at(-1))).toEqual({
        message: 'Backend "main" sent a stream event that is not JSON.',
        type: 'server_error',
        param: null,
        code: 'upstream_bad_response',
      })
      expect(result).toMatchObject({ outcome: 'upstream_error', error: { code: 'upstream_bad_response' } })
    },
    SPLIT_TIMEOUT,
  )

  it(
    'ends a body that stops before [DONE] with an upstream_stream_interrupted frame, whatever the split',
    async () => {
      const cut = sse(completionChunks(PIECES), false)
      const { text, result } = await relayEverySplit(cut)
      expect(text.startsWith(cut)).toBe(true)
      expect(errorOfFrame(dataFrames(text).at(-1))).toMatchObject({
        code: 'upstream_stream_interrupted',
        message: 'Backend "main" ended the stream before [DONE].',
      })
      expect(result).toMatchObject({ outcome: 'upstream_error', text: TEXT, error: { code: 'upstream_stream_interrupted' } })
    },
    SPLIT_TIMEOUT,
  )

  it('drops an event cut off without its blank line, and ends interrupted', async () => {
    const { text, result } = await relayAll([`${before}data: {"choices":[{"index":0,"delta":{"content":"lost"}}]}\n`])
    expect(dataFrames(text)).toHaveLength(3)
    expect(errorOfFrame(dataFrames(text).at(-1))['code']).toBe('upstream_stream_interrupted')
    expect(result.text).toBe('A cat')
  })

  it('does not fill usage into a stream that broke off', async () => {
    const { text, filled } = await relayAll([before], { clientWantsUsage: true })
    const data = dataFrames(text)
    expect(
      data
        .slice(0, -1)
        .map((d) => JSON.parse(d) as Record<string, unknown>)
        .filter((c) => 'usage' in c),
    ).toEqual([])
    expect(errorOfFrame(data.at(-1))['code']).toBe('upstream_stream_interrupted')
    expect(filled).toEqual([])
  })

  it('ends a body that fails (ECONNRESET) with an upstream_stream_interrupted frame that says it broke off, after what was relayed', async () => {
    const body = openBody(before)
    const run = relay(body)
    const reader = run.stream.getReader()
    expect(decoder.decode((await reader.read()).value)).toBe(before)
    body.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
    const last = await reader.read()
    expect(dataFrames(decoder.decode(last.value)).map(errorOfFrame)).toEqual([
      {
        message: 'Backend "main" broke off its response (ECONNRESET).',
        type: 'server_error',
        param: null,
        code: 'upstream_stream_interrupted',
      },
    ])
    expect((await reader.read()).done).toBe(true)
    expect(run.results).toHaveLength(1)
    expect(run.results[0]).toMatchObject({ outcome: 'upstream_error', text: 'A cat', error: { code: 'upstream_stream_interrupted' } })
  })

  it('ends a body idle past undici bodyTimeout with an upstream_timeout frame', async () => {
    const body = openBody(before)
    const run = relay(body)
    const reader = run.stream.getReader()
    await reader.read()
    body.destroy(Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }))
    const text = decoder.decode((await reader.read()).value)
    expect(errorOfFrame(dataFrames(text)[0])).toMatchObject({
      code: 'upstream_timeout',
      message: 'Backend "main" did not answer in time (waiting for more of the response).',
    })
    expect((await reader.read()).done).toBe(true)
    expect(run.results).toEqual([
      expect.objectContaining({ outcome: 'upstream_error', error: expect.objectContaining({ code: 'upstream_timeout' }) }),
    ])
  })
})

describe('relayStream: limits', () => {
  const limits = (over: Partial<SseLimits>): SseLimits => ({ ...UNLIMITED, ...over })

  it('ends a line longer than maxLineChars with an upstream_bad_response frame and destroys the body', async () => {
    const long = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(500) } }] })}\n\n`
    const body = bodyOf(PLAIN.slice(0, PLAIN.indexOf('\n\n') + 2), long)
    const run = relay(body, { limits: limits({ maxLineChars: 300 }) })
    const text = await readText(run.stream)
    const data = dataFrames(text)
    expect(data).toHaveLength(2)
    expect(errorOfFrame(data[1])).toMatchObject({ code: 'upstream_bad_response', type: 'server_error' })
    expect(errorOfFrame(data[1])['message']).toBe(
      `Backend "main" sent a stream past the gateway's limit: an event stream line is longer than the limit.`,
    )
    expect(body.destroyed).toBe(true)
    expect(run.results).toHaveLength(1)
    expect(run.results[0]).toMatchObject({ outcome: 'upstream_error', error: { code: 'upstream_bad_response' } })
  })

  it('cuts a line that never ends (no newline) at maxLineChars, without waiting for the rest', async () => {
    const body = openBody(`data: ${'x'.repeat(150)}`, 'x'.repeat(100))
    const run = relay(body, { limits: limits({ maxLineChars: 200 }) })
    const data = dataFrames(await readText(run.stream))
    expect(errorOfFrame(data[0])['code']).toBe('upstream_bad_response')
    expect(body.destroyed).toBe(true)
  })

  it('ends an endless stream past maxTotalBytes with an upstream_bad_response frame and destroys the body', async () => {
    const frame = encode(sse(completionChunks(['more']).slice(1, 2), false))
    let pulled = 0
    const body = Readable.from(
      (function* endless() {
        for (;;) {
          pulled++
          yield frame
        }
      })(),
    )
    const run = relay(body, { limits: limits({ maxTotalBytes: frame.length * 10 }) })
    const data = dataFrames(await readText(run.stream))
    expect(data).toHaveLength(11)
    expect(errorOfFrame(data.at(-1))['message']).toBe(
      `Backend "main" sent a stream past the gateway's limit: the event stream is longer than the limit.`,
    )
    expect(body.destroyed).toBe(true)
    expect(pulled).toBeLessThan(30)
    expect(run.results[0]).toMatchObject({ outcome: 'upstream_error', text: 'more'.repeat(10) })
  })
})

describe('relayStream: the client leaves', () => {
  it('a consumer that cancels mid-stream: client_aborted, body destroyed, onEnd once with the text sent so far', async () => {
    const events = completionChunks(PIECES)
    const body = openBody(sse(events.slice(0, 2), false), sse(events.slice(2, 3), false))
    const run = relay(body)
    const reader = run.stream.getReader()
    await reader.read()
    await reader.read()
    expect(run.results).toHaveLength(0)
    await reader.cancel()
    await settle()
    expect(body.destroyed).toBe(true)
    expect(run.results).toHaveLength(1)
    expect(run.results[0]).toMatchObject({ outcome: 'client_aborted', text: 'A cat on a mat, ', error: undefined })
    expect(run.results[0]?.assembled).toMatchObject({ choices: [{ message: { content: 'A cat on a mat, ' }, finish_reason: null }] })
  })

  it('a consumer that cancels before the first read: client_aborted, body destroyed, onEnd once with no text', async () => {
    const body = openBody(PLAIN)
    const run = relay(body)
    await run.stream.cancel()
    await settle()
    expect(body.destroyed).toBe(true)
    expect(run.results).toHaveLength(1)
    expect(run.results[0]).toMatchObject({ outcome: 'client_aborted', text: '', reported: undefined })
  })

  it('a signal that aborts while the backend is idle: the pending read ends, client_aborted, body destroyed, onEnd once', async () => {
    const controller = new AbortController()
    const body = openBody(sse(completionChunks(PIECES).slice(0, 2), false))
    const run = relay(body, { signal: controller.signal })
    const reader = run.stream.getReader()
    await reader.read()
    const pending = reader.read()
    await settle()
    controller.abort()
    expect((await pending).done).toBe(true)
    await settle()
    expect(body.destroyed).toBe(true)
    expect(run.results).toHaveLength(1)
    expect(run.results[0]).toMatchObject({ outcome: 'client_aborted', text: 'A cat ' })
  })

  it('a signal already aborted: client_aborted at once, body destroyed, nothing relayed', async () => {
    const body = openBody(PLAIN)
    const run = relay(body, { signal: AbortSignal.abort() })
    await settle()
    expect(body.destroyed).toBe(true)
    expect(run.results).toEqual([expect.objectContaining({ outcome: 'client_aborted', text: '' })])
    expect(await readText(run.stream)).toBe('')
  })

  it('a cancel or abort after the end changes nothing', async () => {
    const controller = new AbortController()
    const run = relay(bodyOf(PLAIN), { signal: controller.signal })
    const reader = run.stream.getReader()
    while (!(await reader.read()).done);
    await reader.cancel()
    controller.abort()
    await settle()
    expect(run.results).toHaveLength(1)
    expect(run.results[0]?.outcome).toBe('completed')
  })
})

describe('relayStream: onFirstContent', () => {
  it('is called once, when the first chunk with content goes out (not for the role chunk)', async () => {
    const events = completionChunks(PIECES)
    const run = relay(bodyOf(...events.map((e) => sse([e], false)), 'data: [DONE]\n\n'))
    const reader = run.stream.getReader()
    await reader.read() // role chunk, content ''
    expect(run.seen.firstContent).toBe(0)
    await reader.read()
    expect(run.seen.firstContent).toBe(1)
    while (!(await reader.read()).done);
    expect(run.seen.firstContent).toBe(1)
  })

  it('is never called for a stream without content', async () => {
    const { seen } = await relayAll([sse([completionChunks([])[0], completionChunks([]).at(-1)])])
    expect(seen.firstContent).toBe(0)
  })
})

describe('relayStream: backpressure', () => {
  it('reads nothing from the body beyond what the consumer pulled', async () => {
    const events = completionChunks(Array.from({ length: 40 }, (_v, i) => `piece ${i} `))
    let pulled = 0
    async function* backend() {
      for (const event of events) {
        pulled++
        yield encode(sse([event], false))
      }
    }
    // highWaterMark 0: the body itself reads nothing ahead either, so every pull is the relay's.
    const run = relay(Readable.from(backend(), { highWaterMark: 0 }))
    const reader = run.stream.getReader()
    await settle(10)
    expect(pulled).toBe(0)
    for (let read = 1; read <= 5; read++) {
      await reader.read()
      await settle(10)
      expect(pulled).toBe(read)
    }
    await reader.cancel()
  })
})
