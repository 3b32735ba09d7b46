import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import type { Hono } from 'hono'
import { describe, expect, it, vi } from 'vitest'
import { errorOf } from '../../test/helpers/errors.js'
import { postJson, settle, STEP_MODEL, stepApp, stepConfig } from '../../test/helpers/step-app.js'
import type { AuthVariables, Principal } from '../auth/index.js'
import { ANONYMOUS } from '../auth/principal.js'
import { FinishLine, type FinishVariables } from '../completion/finish-line.js'
import { RELEASED_BODY_BYTES, releaseBodyMemory } from '../lib/body-memory.js'
import { LARGE_WORK_BYTES, WorkGate } from '../lib/work-gate.js'
import { validate, type ValidateVariables } from './index.js'
import { BODY_READ_LEASE_MS } from './read-json-body.js'

// The real release, watched: a body refused while parsing never reaches a handler that could see it.
vi.mock('../lib/body-memory.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/body-memory.js')>()
  return { ...real, releaseBodyMemory: vi.fn(real.releaseBodyMemory) }
})

const OTHER_MODEL = 'llava-next-13b'
const BODY_LIMIT = 2_048

const config = stepConfig({
  server: { bodyLimitBytes: BODY_LIMIT },
  models: [
    { id: STEP_MODEL, backend: 'main', upstreamModel: 'llava-hf/llava-1.5-7b-hf' },
    { id: OTHER_MODEL, backend: 'main', contentOrder: 'reject' },
  ],
})

/** `bytes` as the Node request the server would hand over, in three reads (so joined into memory of the gateway's own). */
function sendInReads(app: { request: Hono['request'] }, bytes: Buffer) {
  const incoming = new IncomingMessage(new Socket())
  const res = app.request('/', { method: 'POST', headers: { 'content-type': 'application/json' } }, { incoming })
  const third = Math.ceil(bytes.length / 3)
  for (let at = 0; at < bytes.length; at += third) incoming.push(bytes.subarray(at, at + third))
  incoming.push(null)
  return res
}

const ONLY_STEP_MODEL: Principal = { keyAlias: 'a-key', team: 'team-a', role: 'user' as const, models: [STEP_MODEL], budgets: [] }

function validateApp(principal: Principal = ANONYMOUS) {
  return stepApp<AuthVariables & ValidateVariables>(validate({ config, largeWork: new WorkGate(1, 30_000) }), () => ({ principal }))
}

const user = (content: unknown, model = STEP_MODEL) => ({ model, messages: [{ role: 'user', content }] })
const text = (t: unknown) => ({ type: 'text', text: t })
const image = (imageUrl: unknown) => ({ type: 'image_url', image_url: imageUrl })

describe('validate: a valid request', () => {
  it('sets chatRequest (the parsed body, unknown parameters kept) and model (the configured entry)', async () => {
    const { app, reached } = validateApp()
    const body = {
      ...user([text('What is this?'), image({ url: 'https://images.example/cat.png', detail: 'low' })]),
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      some_new_openai_parameter: { nested: [1, 2] },
    }
    const res = await app.request('/', postJson(body))
    expect(res.status).toBe(200)
    expect(reached).toHaveLength(1)
    expect(reached[0]?.chatRequest).toEqual(body)
    expect(reached[0]?.model).toBe(config.models[0])
    expect(reached[0]?.model).toMatchObject({ id: STEP_MODEL, upstreamModel: 'llava-hf/llava-1.5-7b-hf' })
  })

  it('picks the model the request names', async () => {
    const { app, reached } = validateApp()
    await app.request('/', postJson(user('hi', OTHER_MODEL)))
    expect(reached[0]?.model).toBe(config.models[1])
  })

  it('lets a key limited to some models use one of them', async () => {
    const { app, reached } = validateApp(ONLY_STEP_MODEL)
    expect((await app.request('/', postJson(user('hi')))).status).toBe(200)
    expect(reached[0]?.model?.id).toBe(STEP_MODEL)
  })

  it('reads a body sent without a Content-Type as JSON, and accepts application/*+json with a charset', async () => {
    const { app, reached } = validateApp()
    // A string body would get text/plain from fetch itself: bytes go without any Content-Type.
    const bare = new TextEncoder().encode(JSON.stringify(user('hi')))
    expect((await app.request('/', { method: 'POST', body: bare })).status).toBe(200)
    const vendor = {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.api+json; charset=utf-8' },
      body: JSON.stringify(user('hi')),
    }
    expect((await app.request('/', vendor)).status).toBe(200)
    expect(reached).toHaveLength(2)
  })
})

describe('validate: models', () => {
  it('answers 404 model_not_found, param model, for a model that is not configured', async () => {
    const { app, reached } = validateApp()
    const error = await errorOf(await app.request('/', postJson(user('hi', 'gpt-9'))), 404, 'model_not_found')
    expect(error.param).toBe('model')
    expect(error.message).toBe('The model `gpt-9` does not exist or you do not have access to it.')
    expect(reached).toHaveLength(0)
  })

  it('answers the same 404 for a configured model the key may not use, so the key cannot tell which it was', async () => {
    const { app, reached } = validateApp(ONLY_STEP_MODEL)
    const forbidden = await errorOf(await app.request('/', postJson(user('hi', OTHER_MODEL))), 404, 'model_not_found')
    expect(forbidden.param).toBe('model')
    expect(forbidden.message).toBe(`The model \`${OTHER_MODEL}\` does not exist or you do not have access to it.`)
    expect(reached).toHaveLength(0)
  })

  it('matches model ids exactly (no case folding, no prefix match)', async () => {
    const { app } = validateApp()
    await errorOf(await app.request('/', postJson(user('hi', STEP_MODEL.toUpperCase()))), 404, 'model_not_found')
    await errorOf(await app.request('/', postJson(user('hi', STEP_MODEL.slice(0, -1)))), 404, 'model_not_found')
  })

  it('cuts a huge model name in the message to 200 characters', async () => {
    const { app } = validateApp()
    const error = await errorOf(await app.request('/', postJson(user('hi', 'm'.repeat(1_500)))), 404, 'model_not_found')
    expect(error.message).toBe(`The model \`${'m'.repeat(200)}\` does not exist or you do not have access to it.`)
  })
})

describe('validate: errors name the path of the offending value', () => {
  it.each([
    ['an image URL that is a number', user([text('hi'), image({ url: 5 })]), 'invalid_value', 'messages[0].content[1].image_url.url'],
    ['an image part without a URL', user([text('hi'), image({})]), 'missing_required_parameter', 'messages[0].content[1].image_url.url'],
    [
      'an unknown image detail',
      user([image({ url: 'https://x/y.png', detail: 'ultra' })]),
      'invalid_value',
      'messages[0].content[0].image_url.detail',
    ],
    ['missing messages', { model: STEP_MODEL }, 'missing_required_parameter', 'messages'],
    ['a temperature out of range', { ...user('hi'), temperature: 3 }, 'invalid_value', 'temperature'],
    [
      'an image in a system message',
      { model: STEP_MODEL, messages: [{ role: 'system', content: [image({ url: 'https://x/y.png' })] }] },
      'invalid_value',
      'messages[0].content[0]',
    ],
  ])('%s → 400 %s, param %s', async (_name, body, code, param) => {
    const { app, reached } = validateApp()
    const error = await errorOf(await app.request('/', postJson(body)), 400, code)
    expect(error.param).toBe(param)
    expect(error.message).toContain(`'${param}'`)
    expect(error.type).toBe('invalid_request_error')
    expect(reached).toHaveLength(0)
  })

  it('says what was expected and what came', async () => {
    const { app } = validateApp()
    const error = await errorOf(await app.request('/', postJson(user([text('hi'), image({ url: 5 })]))), 400, 'invalid_value')
    expect(error.message).toBe("Invalid value for 'messages[0].content[1].image_url.url': expected string, got integer.")
  })

  it('checks the body before the model: an invalid body for an unknown model is a 400', async () => {
    const { app } = validateApp(ONLY_STEP_MODEL)
    const error = await errorOf(await app.request('/', postJson({ model: 'gpt-9' })), 400, 'missing_required_parameter')
    expect(error.param).toBe('messages')
  })
})

describe('validate: bodies that are not a JSON object', () => {
  const raw = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => ({
    method: 'POST',
    headers,
    body,
  })

  it.each([
    ['an empty body', 400, 'invalid_json', raw('')],
    ['a body that is not JSON', 400, 'invalid_json', raw('{"model": ')],
    ['a JSON array', 400, 'invalid_request', raw('[1,2]')],
    ['JSON null', 400, 'invalid_request', raw('null')],
    ['a text/plain body', 415, 'unsupported_content_type', raw('{}', { 'content-type': 'text/plain' })],
    ['a body past server.bodyLimitBytes', 413, 'request_too_large', raw(JSON.stringify(user('x'.repeat(BODY_LIMIT))))],
  ])('%s → %i %s', async (_name, status, code, init) => {
    const { app, reached } = validateApp()
    await errorOf(await app.request('/', init), status, code)
    expect(reached).toHaveLength(0)
  })

  it('refuses a body past the limit that declares no length (chunked) while reading it', async () => {
    const { app, reached } = validateApp()
    const bytes = new TextEncoder().encode(JSON.stringify(user('x'.repeat(BODY_LIMIT))))
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 512) controller.enqueue(bytes.subarray(i, i + 512))
        controller.close()
      },
    })
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit
    await errorOf(await app.request('/', init), 413, 'request_too_large')
    expect(reached).toHaveLength(0)
  })
})

/** Room for bodies over LARGE_WORK_BYTES, and for their text in the model's context window. */
const roomy = stepConfig({
  server: { bodyLimitBytes: 4 * LARGE_WORK_BYTES },
  models: [{ id: STEP_MODEL, backend: 'main', contextWindow: LARGE_WORK_BYTES }],
})

function gatedApp(withConfig: ReturnType<typeof stepConfig>, gate: WorkGate) {
  return stepApp<AuthVariables & ValidateVariables>(validate({ config: withConfig, largeWork: gate }), () => ({ principal: ANONYMOUS }))
}

/** The step, with a gate (jobs wait at most `maxWaitMs`) whose one slot a test job holds until `free()`. */
async function heldGate(withConfig: ReturnType<typeof stepConfig>, maxWaitMs = 60_000) {
  const gate = new WorkGate(1, maxWaitMs)
  let free!: () => void
  const holding = gate.run(() => new Promise<void>((resolve) => (free = resolve)))
  await settle()
  return { ...gatedApp(withConfig, gate), gate, free: () => free(), holding }
}

describe('validate: large bodies take turns', () => {
  const large = { model: STEP_MODEL, messages: [{ role: 'user', content: 'x'.repeat(LARGE_WORK_BYTES + 1) }] }
  const small = { model: STEP_MODEL, messages: [{ role: 'user', content: 'hello' }] }

  it('a body over LARGE_WORK_BYTES waits for its turn, while a small one goes straight through', async () => {
    const { app, reached, free, holding } = await heldGate(roomy)
    let largeDone = false
    const largeRes = Promise.resolve(app.request('/', postJson(large))).then((res) => {
      largeDone = true
      return res
    })
    expect((await app.request('/', postJson(small))).status).toBe(200)
    await settle()
    expect(largeDone).toBe(false)
    expect(reached).toHaveLength(1)
    free()
    await holding
    expect((await largeRes).status).toBe(200)
    expect(reached).toHaveLength(2)
  })
})

/** A chat request body of `textBytes` of text, and a little more. */
const bodyOf = (textBytes: number) =>
  Buffer.from(JSON.stringify({ model: STEP_MODEL, messages: [{ role: 'user', content: 'x'.repeat(textBytes) }] }))

/**
 * `bytes` in 1 MiB pieces, as a stream that counts the pieces asked of it (`pulled`) and those
 * given (`at`, in bytes); given `stall`, the second piece waits for it. With its Content-Length,
 * unless `chunked`.
 */
function countedBody(bytes: Buffer, { stall, chunked = false }: { stall?: Promise<void>; chunked?: boolean } = {}) {
  const state = { pulled: 0, at: 0 }
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        state.pulled++
        if (stall && state.at === 1 << 20) await stall
        if (state.at < bytes.length) controller.enqueue(bytes.subarray(state.at, (state.at += 1 << 20)))
        else controller.close()
      },
    },
    { highWaterMark: 0 },
  )
  const length: Record<string, string> = chunked ? {} : { 'content-length': String(bytes.length) }
  const init = { method: 'POST', headers: { 'content-type': 'application/json', ...length }, body: stream, duplex: 'half' } as RequestInit
  return { init, state }
}

describe('validate: a large declared body is read in its turn', () => {
  const bytes = bodyOf(LARGE_WORK_BYTES)

  it('is not read while the gate is held, and is read and parsed once its turn comes', async () => {
    const { app, reached, free, holding } = await heldGate(roomy)
    const { init, state } = countedBody(bytes)
    const res = app.request('/', init)
    await settle()
    expect(state.pulled).toBe(0)
    free()
    await holding
    expect((await res).status).toBe(200)
    expect(state.pulled).toBeGreaterThan(4)
    expect(reached).toHaveLength(1)
  })

  it('refuses a declared length over the limit at once, without waiting for a turn', async () => {
    const { app, reached, free, holding } = await heldGate(stepConfig({ server: { bodyLimitBytes: LARGE_WORK_BYTES } }))
    const { init, state } = countedBody(bytes)
    await errorOf(await app.request('/', init), 413, 'request_too_large')
    expect(state.pulled).toBe(0)
    expect(reached).toHaveLength(0)
    free()
    await holding
  })

  it('gives the turn up to the next body when it takes longer than BODY_READ_LEASE_MS to arrive, and parses in a turn of its own', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const { app, reached } = gatedApp(roomy, new WorkGate(1, 60_000))
      let resume!: () => void
      const slow = countedBody(bytes, { stall: new Promise<void>((resolve) => (resume = resolve)) })
      const slowRes = app.request('/', slow.init)
      await vi.advanceTimersByTimeAsync(BODY_READ_LEASE_MS - 1)
      const fast = countedBody(bytes)
      const fastRes = app.request('/', fast.init)
      await vi.advanceTimersByTimeAsync(0)
      expect(fast.state.pulled).toBe(0)
      await vi.advanceTimersByTimeAsync(1)
      expect((await fastRes).status).toBe(200)
      expect(slow.state.at).toBe(1 << 20)
      resume()
      expect((await slowRes).status).toBe(200)
      expect(reached).toHaveLength(2)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('validate: a large chunked body is read in its turn', () => {
  it('is read until it passes LARGE_WORK_BYTES, then waits there unread while the gate is held, and is read on and parsed in its turn', async () => {
    const { app, reached, free, holding } = await heldGate(roomy)
    const bytes = bodyOf(LARGE_WORK_BYTES + (2 << 20))
    const { init, state } = countedBody(bytes, { chunked: true })
    const res = app.request('/', init)
    await settle()
    expect(state.at).toBe(LARGE_WORK_BYTES + (1 << 20))
    expect(reached).toHaveLength(0)
    free()
    await holding
    expect((await res).status).toBe(200)
    expect(state.at).toBeGreaterThanOrEqual(bytes.length)
    expect(reached).toHaveLength(1)
  })

  it('gets 503 overloaded, the rest unread, when its turn does not come within largeWorkMaxWaitMs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const { app, reached, free, holding } = await heldGate(roomy, 1_000)
      const { init, state } = countedBody(bodyOf(LARGE_WORK_BYTES + (2 << 20)), { chunked: true })
      const res = app.request('/', init)
      await vi.advanceTimersByTimeAsync(1_000)
      await errorOf(await res, 503, 'overloaded')
      expect(state.at).toBe(LARGE_WORK_BYTES + (1 << 20))
      expect(reached).toHaveLength(0)
      free()
      await holding
    } finally {
      vi.useRealTimers()
    }
  })

  it('gives back at once a turn that comes after its body broke off while waiting for it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const { app, reached, gate, free, holding } = await heldGate(roomy)
      // The Node request the server would hand over: 5 MiB arrive (past LARGE_WORK_BYTES), then the socket closes.
      const incoming = new IncomingMessage(new Socket())
      const init = { method: 'POST', headers: { 'content-type': 'application/json' } }
      const res = app.request('/', init, { incoming })
      incoming.push(bodyOf(LARGE_WORK_BYTES + (2 << 20)).subarray(0, LARGE_WORK_BYTES + (1 << 20)))
      await settle()
      incoming.destroy()
      expect((await res).status).toBeGreaterThanOrEqual(400)
      free()
      await holding
      // Its turn came once the gate was free: given back at once, not held for BODY_READ_LEASE_MS.
      let nextRan = false
      const next = gate.run(() => Promise.resolve((nextRan = true)))
      await settle()
      expect(nextRan).toBe(true)
      await next
      expect(reached).toHaveLength(0)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('validate: a text too long for its model', () => {
  const roomy = stepConfig({
    server: { bodyLimitBytes: 1024 * 1024 },
    models: [
      { id: STEP_MODEL, backend: 'main' }, // the default context window: 4,096 tokens
      { id: OTHER_MODEL, backend: 'main' },
    ],
  })
  const roomyApp = (principal: Principal = ANONYMOUS) =>
    stepApp<AuthVariables & ValidateVariables>(validate({ config: roomy, largeWork: new WorkGate(1, 30_000) }), () => ({ principal }))
  const longText = 'x'.repeat(400 * 1024) // at least 409,600 / 6 / 16 = 4,267 tokens

  it("is refused with the meter's 400 as the body is parsed, from its size", async () => {
    const { app, reached } = roomyApp()
    const error = await errorOf(await app.request('/', postJson(user(longText))), 400, 'context_length_exceeded')
    expect(error.param).toBe('messages')
    expect(error.message).toBe(
      `This model's maximum context length is 4096 tokens (model \`${STEP_MODEL}\`, models[].contextWindow). However, your messages resulted in at least 4267 tokens. Please reduce the length of the messages.`,
    )
    expect(reached).toHaveLength(0)
  })

  it('is refused before a large body is joined, when it is one: nothing joined, nothing to give back', async () => {
    const large = stepConfig({ server: { bodyLimitBytes: 2 * LARGE_WORK_BYTES } })
    const { app, reached } = stepApp<AuthVariables & ValidateVariables>(
      validate({ config: large, largeWork: new WorkGate(1, 30_000) }),
      () => ({
        principal: ANONYMOUS,
      }),
    )
    vi.mocked(releaseBodyMemory).mockClear()
    const body = Buffer.from(JSON.stringify(user('x'.repeat(LARGE_WORK_BYTES))))
    const error = await errorOf(await sendInReads(app, body), 400, 'context_length_exceeded')
    expect(error.message).toContain(`at least ${Math.ceil(Math.ceil(LARGE_WORK_BYTES / 6) / 16)} tokens`)
    expect(vi.mocked(releaseBodyMemory)).not.toHaveBeenCalled() // a body refused once joined is given back at once (below)
    expect(reached).toHaveLength(0)
  })

  it('names no model the key may not use: that is the 404 any such model gets', async () => {
    const { app } = roomyApp(ONLY_STEP_MODEL)
    await errorOf(await app.request('/', postJson(user(longText, OTHER_MODEL))), 404, 'model_not_found')
    await errorOf(await app.request('/', postJson(user(longText, STEP_MODEL))), 400, 'context_length_exceeded')
  })
})

describe("validate: the client's body, kept for forwarding", () => {
  const roomy = stepConfig({ server: { bodyLimitBytes: 1024 * 1024 } })
  const roomyApp = () =>
    stepApp<AuthVariables & ValidateVariables>(validate({ config: roomy, largeWork: new WorkGate(1, 30_000) }), () => ({
      principal: ANONYMOUS,
    }))

  it("is kept when a long data URL's payload is a view of its bytes, and holds the bytes sent", async () => {
    const { app, reached } = roomyApp()
    const init = postJson(user([image({ url: `data:image/png;base64,${'A'.repeat(100 * 1024)}` }), text('hi')]))
    expect((await app.request('/', init)).status).toBe(200)
    const clientBody = reached[0]?.clientBody
    expect(clientBody?.bytes.toString()).toBe(init.body)
    expect(clientBody?.payloadViews).toBe(1)
    const payloads = [...(reached[0]?.dataUrlPayloads?.values() ?? [])]
    expect(payloads).toHaveLength(1)
    expect(payloads[0]?.buffer).toBe(clientBody?.bytes.buffer)
  })

  it('is not kept for a body with no long data URL, so nothing holds it past its parse', async () => {
    const { app, reached } = roomyApp()
    const short = `data:image/png;base64,${'A'.repeat(1_000)}`
    for (const body of [user('hi'), user([image({ url: short }), text('hi')]), user([text('B'.repeat(100 * 1024))])]) {
      expect((await app.request('/', postJson(body))).status).toBe(200)
    }
    expect(reached.map((r) => r.clientBody)).toEqual([undefined, undefined, undefined])
  })
})

describe("validate: the body's memory, given back when the request is over", () => {
  const roomy = stepConfig({ server: { bodyLimitBytes: 2 * RELEASED_BODY_BYTES } })
  const imageBody = Buffer.from(
    JSON.stringify(user([image({ url: `data:image/png;base64,${'A'.repeat(RELEASED_BODY_BYTES)}` }), text('hi')])),
  )

  /** The step with a finish line ahead of it, as in the chat route, or with none. */
  const memoryApp = (finish?: FinishLine) =>
    stepApp<Partial<FinishVariables> & AuthVariables & ValidateVariables>(
      validate({ config: roomy, largeWork: new WorkGate(1, 30_000) }),
      () => ({ principal: ANONYMOUS, ...(finish ? { finish } : {}) }),
    )

  it('gives the body back once the request has finished, not before: the answer may still be streaming', async () => {
    const finish = new FinishLine(0)
    const { app, reached } = memoryApp(finish)
    expect((await sendInReads(app, imageBody)).status).toBe(200)
    const bytes = reached[0]?.clientBody?.bytes
    expect(bytes?.equals(imageBody)).toBe(true)
    await settle()
    expect(bytes?.buffer.byteLength).toBeGreaterThan(0)
    finish.complete({ outcome: 'completed', status: 200, cache: 'none' })
    await settle()
    expect(bytes?.buffer.byteLength).toBe(0)
  })

  it('keeps the body when no finish line tells it the request is over', async () => {
    const { app, reached } = memoryApp()
    expect((await sendInReads(app, imageBody)).status).toBe(200)
    await settle()
    expect(reached[0]?.clientBody?.bytes.equals(imageBody)).toBe(true)
  })

  it('gives a body refused while parsing back at once', async () => {
    const { app } = memoryApp()
    vi.mocked(releaseBodyMemory).mockClear()
    const broken = Buffer.concat([imageBody.subarray(0, -2), Buffer.from(',]')])
    await errorOf(await sendInReads(app, broken), 400, 'invalid_json')
    expect(vi.mocked(releaseBodyMemory).mock.results).toEqual([{ type: 'return', value: true }])
  })
})
