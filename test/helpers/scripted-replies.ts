import { bodyText } from '../../src/backends/request-body.js'
import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import { classifyUpstreamFailure } from '../../src/backends/classify-failure.js'
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../../src/backends/client.js'
import type { GatewayError } from '../../src/errors/gateway-error.js'

/** A request the gateway sent: which backend, the request, and its body parsed. */
export type SentRequest = UpstreamRequest & { backend: string; json: Record<string, unknown> }

type Reply = (sent: SentRequest) => UpstreamResponse | Promise<UpstreamResponse>

/**
 * An UpstreamClient without sockets: each `send` takes the next scripted reply, in order, and
 * every request is kept in `sent`. A request with no reply left fails the test loudly (a 500).
 */
export class ScriptedUpstream implements UpstreamClient {
  readonly sent: SentRequest[] = []
  private readonly replies: Reply[] = []

  /** The next answer, built from the request when the test needs to look at it first. */
  reply(reply: Reply): this {
    this.replies.push(reply)
    return this
  }

  /** The next answer: `status` with `body` as JSON. */
  json(status: number, body: unknown, headers: IncomingHttpHeaders = {}): this {
    return this.raw(status, JSON.stringify(body), { 'content-type': 'application/json', ...headers })
  }

  /** The next answer: `status` with `text` as it is. */
  raw(status: number, text: string, headers: IncomingHttpHeaders = {}): this {
    return this.reply(() => ({ status, headers, body: Readable.from([Buffer.from(text)]) }))
  }

  /** The next answer: a 200 event stream, each chunk as its own body chunk. */
  sse(chunks: ReadonlyArray<string>, headers: IncomingHttpHeaders = {}): this {
    return this.stream(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), headers)
  }

  /** The next answer: a 200 event stream with this body (one the test feeds, say). */
  stream(body: Readable, headers: IncomingHttpHeaders = {}): this {
    return this.reply(() => ({ status: 200, headers: { 'content-type': 'text/event-stream', ...headers }, body }))
  }

  /** The next send throws this, as the real client does: a GatewayError from classifyUpstreamFailure. */
  fail(error: GatewayError): this {
    return this.reply(() => {
      throw error
    })
  }

  async send(backend: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    const sent: SentRequest = { ...req, backend, json: JSON.parse((await bodyText(req.body)) || '{}') as Record<string, unknown> }
    this.sent.push(sent)
    const reply = this.replies.shift()
    if (!reply) throw new Error(`ScriptedUpstream: no reply scripted for request ${this.sent.length} (to ${backend})`)
    return reply(sent)
  }

  async close(): Promise<void> {}
}

/** What the real client throws for a backend that refuses connections, or another stable network code. */
export function networkFailure(backend: string, code = 'ECONNREFUSED'): GatewayError {
  return classifyUpstreamFailure(Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code }), backend)
}
