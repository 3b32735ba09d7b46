import { Readable } from 'node:stream'
import { Agent } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import type { BackendConfig, Config } from '../config/schema.js'
import { gatewayError } from '../errors/gateway-error.js'
import { classifyUpstreamFailure } from './classify-failure.js'
import type { RequestBody } from './request-body.js'
import type { ClientSignal } from '../lib/client-signal.js'
import { handToUndici, pinBodyMemory } from '../lib/body-memory.js'
import { WholeAnswerHandler, type AnswerBody } from './whole-answer.js'

export type UpstreamRequest = {
  /** Which of the backend's replicas (by name); its first when absent. */
  replica?: string
  /** Path under the replica's base URL, e.g. `/chat/completions`; under its origin with `relativeTo: 'origin'` (vLLM's `/metrics`). */
  path: string
  relativeTo?: 'baseUrl' | 'origin'
  method: 'GET' | 'POST'
  body?: RequestBody
  headers?: Readonly<Record<string, string>>
  signal?: ClientSignal
  /** The answer is read whole, up to this many bytes: its body comes as a CollectedBody, not a stream. */
  wholeAnswerMaxBytes?: number | undefined
}

export type UpstreamResponse = {
  status: number
  headers: IncomingHttpHeaders
  /** Must be read or discarded (whole-answer.ts): an unread stream holds its connection. */
  body: AnswerBody
}

export interface UpstreamClient {
  send(backend: string, req: UpstreamRequest): Promise<UpstreamResponse>
  close(): Promise<void>
}

/**
 * One keep-alive undici Agent per replica of each backend, with that backend's timeouts, so a slow
 * local GPU server cannot exhaust the sockets of the hosted API, nor one replica those of its
 * siblings. Failures come back as GatewayErrors (502/504) naming the backend, never an address.
 */
export function createUpstreamClient(config: Pick<Config, 'backends'>): UpstreamClient {
  const backends = new Map(
    Object.entries(config.backends).map(([name, backend]) => [
      name,
      {
        backend,
        replicas: new Map(backend.replicas.map((replica) => [replica.name, { ...splitUrl(replica.url), agent: agentFor(backend) }])),
      },
    ]),
  )
  return {
    // Not async: every request comes through here, and the promise undici's call makes is enough.
    send(name, req) {
      const entry = backends.get(name)
      const replica = entry && (req.replica === undefined ? entry.replicas.values().next().value : entry.replicas.get(req.replica))
      if (!entry || !replica) return Promise.reject(gatewayError('internal', { message: `No backend is configured as "${name}".` }))
      const { backend } = entry
      const unreached = (err: unknown) => classifyUpstreamFailure(err, name)
      try {
        const body = req.body
        const streamedLength = typeof body === 'object' && !Buffer.isBuffer(body) ? body.length : undefined
        // One options object for both ways: request() reads `signal` and hands the rest to dispatch(),
        // which ignores it (a spread to add or drop a key costs about 2 µs on Node 20).
        const options = {
          origin: replica.origin,
          path: joinUrl(req.relativeTo === 'origin' ? '' : replica.basePath, req.path),
          method: req.method,
          headers: outgoingHeaders(backend, req.headers ?? {}, streamedLength),
          body: undiciBody(body),
          signal: req.signal ?? null,
        }
        const maxBytes = req.wholeAnswerMaxBytes
        if (maxBytes !== undefined) {
          return new Promise<UpstreamResponse>((answered, failed) => {
            const fail = (err: unknown) => failed(unreached(err))
            try {
              replica.agent.dispatch(options, new WholeAnswerHandler(maxBytes, options.signal, options.body, answered, fail))
            } catch (err) {
              fail(err)
            }
          })
        }
        // The agent's own request(): undici's top-level one parses the URL again and copies the options.
        return replica.agent.request(options).then(
          (res) => ({ status: res.statusCode, headers: res.headers, body: res.body }),
          (err: unknown) => Promise.reject(unreached(err)),
        )
      } catch (err) {
        return Promise.reject(unreached(err))
      }
    },
    async close() {
      await Promise.all([...backends.values()].flatMap(({ replicas }) => [...replicas.values()].map(({ agent }) => agent.close())))
    },
  }
}

/**
 * Text and bytes go as they are (one write with the headers); a body in pieces through a Readable.
 * Either way the request body's memory is accounted for (lib/body-memory.ts): bytes go to undici
 * whole, which names the socket it writes them to; a piece goes where no write is watched.
 */
function undiciBody(body: RequestBody | undefined): string | Buffer | Readable | null {
  if (body === undefined) return null
  if (typeof body === 'string') return body
  if (Buffer.isBuffer(body)) {
    handToUndici(body)
    return body
  }
  return Readable.from(pinned(body.chunks()), { objectMode: false })
}

async function* pinned(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for await (const chunk of chunks) {
    pinBodyMemory(chunk)
    yield chunk
  }
}

function agentFor(backend: BackendConfig): Agent {
  return new Agent({
    connect: { timeout: backend.timeouts.connectMs },
    headersTimeout: backend.timeouts.headersMs,
    bodyTimeout: backend.timeouts.bodyIdleMs,
    connections: backend.maxConnections,
  })
}

/**
 * The request's headers as undici's flat name, value list: the backend's key unless the request
 * brings its own authorization, and the streamed body's length in place of any other. Pushed one
 * by one: on Node 20 an object spread followed by new keys costs about 2 µs, and this is every request.
 */
function outgoingHeaders(backend: BackendConfig, headers: Readonly<Record<string, string>>, contentLength: number | undefined): string[] {
  const list: string[] = []
  if (backend.apiKey && headers['authorization'] === undefined) list.push('authorization', `Bearer ${backend.apiKey}`)
  for (const name in headers) {
    if (contentLength === undefined || name !== 'content-length') list.push(name, headers[name] as string)
  }
  if (contentLength !== undefined) list.push('content-length', String(contentLength))
  return list
}

/** A replica's URL as undici's request takes it: the origin, and the path requests go under. */
function splitUrl(url: string): { origin: string; basePath: string } {
  const parsed = new URL(url)
  return { origin: parsed.origin, basePath: parsed.pathname }
}

/** `https://api.deepinfra.com/v1/openai` + `/chat/completions`, whatever slashes either side has. */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`
}
