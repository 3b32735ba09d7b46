import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type UpstreamCall = {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: Record<string, unknown>
  /** The body as it came, before parsing. */
  raw: string
  /** Resolves when the gateway drops the connection before the response finished. */
  aborted: Promise<void>
}

export type UpstreamHandler = (call: UpstreamCall, res: ServerResponse) => void | Promise<void>

/**
 * A real HTTP server on 127.0.0.1, port 0, playing an OpenAI-compatible backend. Each test scripts
 * its answer with `handle()`. Completion requests the gateway sent are in `calls`; its GETs (health
 * probes, which arrive every `healthCheck.intervalMs` however long a test runs) are in `probes`, so a
 * slow run cannot add to the requests a test counts. Both go to the handler.
 */
export class FakeUpstream {
  readonly calls: UpstreamCall[] = []
  readonly probes: UpstreamCall[] = []
  private readonly callWaiters: Array<{ n: number; resolve: () => void }> = []
  private handler: UpstreamHandler = (_call, res) => replyJson(res, 200, chatCompletion())
  private readonly sockets = new Set<import('node:net').Socket>()

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  /** On a free port, or on `port` (a backend coming back where it was). */
  static async start(port = 0): Promise<FakeUpstream> {
    const server = createServer()
    const upstream = new FakeUpstream(server)
    server.on('request', (req, res) => void upstream.onRequest(req, res))
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return upstream
  }

  /** Base URL as a backend's `baseUrl` (the OpenAI API root). */
  get baseUrl(): string {
    const { port } = this.server.address() as AddressInfo
    return `http://127.0.0.1:${port}/v1`
  }

  handle(handler: UpstreamHandler): void {
    this.handler = handler
  }

  /** Answers every request with `answer`, but only once `release()` is called: requests pile up until then. */
  holdAnswers(answer: (res: ServerResponse, call: UpstreamCall) => void): { release: () => void } {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    this.handle(async (call, res) => {
      await held
      answer(res, call)
    })
    return { release }
  }

  /** Resolves once `n` completion requests have arrived: woken by each arrival, never by polling. */
  untilCalls(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.callWaiters.push({ n, resolve }))
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const aborted = new Promise<void>((resolve) => res.on('close', () => !res.writableFinished && resolve()))
    const call: UpstreamCall = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      raw: text,
      aborted,
    }
    if (call.method === 'GET') {
      this.probes.push(call)
      await this.handler(call, res)
      return
    }
    this.calls.push(call)
    for (const waiter of this.callWaiters.filter((w) => this.calls.length >= w.n)) {
      this.callWaiters.splice(this.callWaiters.indexOf(waiter), 1)
      waiter.resolve()
    }
    await this.handler(call, res)
  }
}

export function replyJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** Writes each SSE event in order and ends with `[DONE]` unless told otherwise. */
export function replySse(res: ServerResponse, events: readonly unknown[], options: { done?: boolean } = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`)
  if (options.done !== false) res.write('data: [DONE]\n\n')
  res.end()
}

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number }

export function chatCompletion(options: { content?: string; usage?: Usage | null; model?: string } = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: options.model ?? 'llava-hf/llava-1.5-7b-hf',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: options.content ?? 'A llama next to a volcano.' },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    ...(options.usage === null ? {} : { usage: options.usage ?? { prompt_tokens: 593, completion_tokens: 7, total_tokens: 600 } }),
  }
}

/** The chunks a backend streams for `pieces`: role chunk, content chunks, finish chunk, optional usage chunk. */
export function completionChunks(pieces: readonly string[], usage?: Usage): unknown[] {
  const base = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'llava-hf/llava-1.5-7b-hf' }
  const chunk = (delta: object, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(usage ? { usage: null } : {}),
  })
  return [
    chunk({ role: 'assistant', content: '' }, null),
    ...pieces.map((content) => chunk({ content }, null)),
    chunk({}, 'stop'),
    ...(usage ? [{ ...base, choices: [], usage }] : []),
  ]
}
