import { bodyText } from '../../src/backends/request-body.js'
import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../../src/backends/client.js'
import { classifyUpstreamFailure } from '../../src/backends/classify-failure.js'
import type { ClientSignal } from '../../src/lib/client-signal.js'

/** One request the gateway sent, as the scripted client saw it. */
export type ScriptedCall = {
  backend: string
  method: string
  path: string
  headers: Readonly<Record<string, string>>
  /** The request body parsed as JSON; `{}` when there was none. */
  body: Record<string, unknown>
  signal: ClientSignal | undefined
  /** Resolves when the gateway aborts the request (the client went away), never otherwise. */
  aborted: Promise<void>
  /** What the call was answered with; undefined while it is held, or when it failed. */
  answer: ScriptedResponse | undefined
}

/** A scripted answer: its body is always a stream, which tests can watch being read or dropped. */
export type ScriptedResponse = UpstreamResponse & { body: Readable }

/** How a backend answers one call: a response, or a thrown failure. Builders below make them. */
export type Answer = (call: ScriptedCall) => ScriptedResponse | Promise<ScriptedResponse>

/** A body's chunks, in order; an async source can hold the body open, or throw to fail it mid-way. */
export type Chunks = Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>

/**
 * An UpstreamClient with no sockets and no timers: each test scripts, per backend name, what the
 * backend answers (JSON, an SSE body, an error status, or a failure classified as undici's would
 * be). Every call is recorded in `calls`. As undici does, aborting a request's signal rejects a
 * call still waiting for its answer and destroys a body still being read.
 */
export class ScriptedUpstream implements UpstreamClient {
  readonly calls: ScriptedCall[] = []
  closed = false
  private readonly scripts = new Map<string, Answer[]>()
  private readonly waiters: Array<{ n: number; resolve: () => void }> = []

  /**
   * Scripts `backend`'s answers: the first call gets the first answer, and so on; the last one
   * answers every call after that. Replaces what was scripted for `backend` before.
   */
  answer(backend: string, ...answers: Answer[]): this {
    this.scripts.set(backend, answers)
    return this
  }

  /** The calls sent to one backend, in order. */
  callsTo(backend: string): ScriptedCall[] {
    return this.calls.filter((call) => call.backend === backend)
  }

  /** Resolves once `n` calls (to any backend) have been sent. */
  untilCalls(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ n, resolve }))
  }

  async send(backend: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.closed) throw new Error('ScriptedUpstream: send() after close()')
    const signal = req.signal
    const call: ScriptedCall = {
      backend,
      method: req.method,
      path: req.path,
      headers: { ...req.headers },
      body: req.body ? (JSON.parse(await bodyText(req.body)) as Record<string, unknown>) : {},
      signal,
      aborted: signal ? abortedOf(signal) : new Promise(() => {}),
      answer: undefined,
    }
    const script = this.scripts.get(backend)
    const answer = script?.[Math.min(this.callsTo(backend).length, script.length - 1)]
    this.calls.push(call)
    for (const waiter of this.waiters.filter((w) => this.calls.length >= w.n)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
    if (!answer) throw new Error(`ScriptedUpstream: no answer scripted for backend "${backend}"`)
    if (signal?.aborted) throw classifyUpstreamFailure(undiciError('UND_ERR_ABORTED', 'Request aborted'), backend)
    const res = await (signal ? unlessAborted(Promise.resolve(answer(call)), signal, backend) : answer(call))
    call.answer = res
    signal?.addEventListener('abort', () => res.body.destroy(undiciError('UND_ERR_ABORTED', 'Request aborted')), { once: true })
    return res
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

/** An error as undici throws it: its stable code on the error itself. */
export function undiciError(code: string, message = code): Error & { code: string } {
  return Object.assign(new Error(message), { code })
}

/** A JSON answer. */
export function json(status: number, body: unknown, headers: IncomingHttpHeaders = {}): Answer {
  return () => response(status, { 'content-type': 'application/json', ...headers }, [JSON.stringify(body)])
}

/** An answer of any type, its body sent as given. */
export function raw(status: number, contentType: string, body: string): Answer {
  return () => response(status, { 'content-type': contentType }, [body])
}

/** An OpenAI-shaped error answer with this status. */
export function errorStatus(status: number, message = 'not now', headers: IncomingHttpHeaders = {}): Answer {
  return json(status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error' } }, headers)
}

/** An SSE answer: one `data:` event per item (JSON unless a string), then `[DONE]` unless told otherwise. */
export function sse(events: readonly unknown[], options: { done?: boolean } = {}): Answer {
  const frames = events.map((event) => `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`)
  return sseBody(() => (options.done === false ? frames : [...frames, 'data: [DONE]\n\n']))
}

/**
 * An SSE answer whose body is the chunks `source` yields, as they come: split anywhere, held open
 * (await something before the next yield), or failing mid-way (throw, e.g. `undiciError('UND_ERR_BODY_TIMEOUT')`).
 */
export function sseBody(source: () => Chunks, status = 200): Answer {
  return streamed(status, 'text/event-stream', source)
}

/** An answer of any type whose body is the chunks `source` yields, as they come (see `sseBody`). */
export function streamed(status: number, contentType: string, source: () => Chunks): Answer {
  return () => response(status, { 'content-type': contentType }, source())
}

/**
 * A failed exchange, as the real client reports it: an error carrying undici's (or the OS's) code,
 * classified like undici's would be. `UND_ERR_HEADERS_TIMEOUT` → 504, `ECONNREFUSED` → 502, ...
 */
export function failure(code: string): Answer {
  return (call) => {
    throw classifyUpstreamFailure(undiciError(code), call.backend)
  }
}

/**
 * `answer`, held until `release()`: calls pile up meanwhile. `arrived` resolves with the first
 * call that is being held.
 */
export function held(answer: Answer): { answer: Answer; release(): void; arrived: Promise<ScriptedCall> } {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let arrive!: (call: ScriptedCall) => void
  const arrived = new Promise<ScriptedCall>((resolve) => (arrive = resolve))
  return {
    answer: async (call) => {
      arrive(call)
      await released
      return answer(call)
    },
    release,
    arrived,
  }
}

/**
 * A body the test writes as it goes: `push` a chunk, `end()` it, or `fail()` it mid-way. Until then
 * the backend is holding the stream open.
 */
export function openStream(): {
  answer: Answer
  push(chunk: string | Uint8Array): void
  end(): void
  fail(err: Error): void
} {
  const queue: Array<{ chunk: string | Uint8Array } | { end: true } | { error: Error }> = []
  let wake: (() => void) | undefined
  const add = (item: (typeof queue)[number]) => {
    queue.push(item)
    wake?.()
  }
  async function* source(): AsyncGenerator<string | Uint8Array> {
    for (;;) {
      const item = queue.shift()
      if (!item) {
        await new Promise<void>((resolve) => (wake = resolve))
        continue
      }
      if ('end' in item) return
      if ('error' in item) throw item.error
      yield item.chunk
    }
  }
  return {
    answer: sseBody(source),
    push: (chunk) => add({ chunk }),
    end: () => add({ end: true }),
    fail: (error) => add({ error }),
  }
}

function response(status: number, headers: IncomingHttpHeaders, chunks: Chunks): ScriptedResponse {
  return { status, headers, body: Readable.from(toBuffers(chunks), { objectMode: false }) }
}

async function* toBuffers(chunks: Chunks): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk)
}

function abortedOf(signal: ClientSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** `answer`, unless `signal` aborts first: then the call fails as undici's does (UND_ERR_ABORTED, 502). */
function unlessAborted(answer: Promise<ScriptedResponse>, signal: ClientSignal, backend: string): Promise<ScriptedResponse> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(classifyUpstreamFailure(undiciError('UND_ERR_ABORTED', 'Request aborted'), backend))
    signal.addEventListener('abort', onAbort, { once: true })
    answer.then(
      (res) => {
        signal.removeEventListener('abort', onAbort)
        resolve(res)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}
