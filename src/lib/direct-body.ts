import type { ServerResponse } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context } from 'hono'
import { nodeResponseOf } from './node-env.js'
import { reply, replyHeaders } from '../reply/reply.js'

/** A streamed body: chunks until done, a way to stop early, and the same as a web stream. */
export interface ChunkSource {
  next(): Promise<IteratorResult<Uint8Array, unknown>>
  cancel(): Promise<void>
  toWebStream(): ReadableStream<Uint8Array>
}

const DIRECT = Symbol('llava.directBody')
const WRITES_DIRECT = Symbol('llava.writesDirect')

/**
 * Marks the response that stands for a direct body. A header as well as the object's identity:
 * hono builds a new Response (headers copied) when a step sets a header after the handler returned.
 */
const DIRECT_HEADER = 'x-llava-direct-body'
const DIRECT_MARK = { [DIRECT_HEADER]: '1' } as const

/** `headers`: the request's record (reply/reply.ts), the mark among them. */
type Pending = { response: Response; headers: Record<string, string>; source: ChunkSource }
type NodeEnv = { outgoing?: unknown; [DIRECT]?: Pending; [WRITES_DIRECT]?: true }
type Fetch = (req: Request, env: unknown) => Response | Promise<Response>

/**
 * An app's fetch for @hono/node-server that writes direct bodies (see streamedBody). An app served
 * without it still works: its streamed bodies are web streams.
 */
export function withDirectBodies(fetch: Fetch): Fetch {
  // Not async: the app's answer is most often a promise already, and a then costs less than an
  // async function's own promise and the turns of its await.
  return (req, env) => {
    if (env && typeof env === 'object') (env as NodeEnv)[WRITES_DIRECT] = true
    const answered = (res: Response) => (writeDirectBody(res, env) ? RESPONSE_ALREADY_SENT : res)
    const res = fetch(req, env)
    return res instanceof Promise ? res.then(answered) : answered(res)
  }
}

/**
 * The response for a streamed body. Served through withDirectBodies, the chunks are written straight
 * to the Node response once every step has returned (writeDirectBody): on Node 20 building a web
 * ReadableStream costs more than relaying a short answer, and the adapter sends a web stream's
 * headers in a write of their own, where a direct write sends them with the first chunk. Without
 * a Node response (app.request() in tests) the body is the same chunks as a web stream.
 */
export function streamedBody(c: Context, source: ChunkSource): Response {
  const env = c.env as NodeEnv | undefined
  if (!env?.[WRITES_DIRECT] || !nodeResponseOf(c)) return reply(c, source.toWebStream(), 200)
  const response = reply(c, null, 200, DIRECT_MARK)
  env[DIRECT] = { response, headers: replyHeaders(c), source }
  return response
}

/**
 * The server's half of streamedBody: when the app answered with a direct body, writes its status,
 * headers and chunks to `env.outgoing` and returns true (the adapter must then write nothing). If a
 * later step replaced that response (an error), the source is cancelled and false returned.
 */
function writeDirectBody(response: Response, env: unknown): boolean {
  const pending = (env as NodeEnv | undefined)?.[DIRECT]
  if (!pending) return false
  const { source } = pending
  const outgoing = (env as NodeEnv).outgoing as ServerResponse
  if (!isStill(pending, response)) {
    // hono copies the replaced response's headers into the new one: the mark is ours alone.
    response.headers.delete(DIRECT_HEADER)
    void source.cancel()
    return false
  }
  outgoing.writeHead(response.status, response === pending.response ? unmarked(pending.headers) : copiedHeaders(response))
  void pipe(source, outgoing)
  return true
}

/**
 * Whether the app's answer is still the direct body's response, or hono's copy of it (made when a
 * step sets a header after the handler). An error that replaced it has its own status and type,
 * though hono copies the mark into it. (Reading `body` instead would make the adapter build a
 * whole web Response, the very cost a direct body avoids.)
 */
function isStill(pending: Pending, response: Response): boolean {
  if (response === pending.response) return true
  const { headers } = response
  return (
    response.status === 200 &&
    headers.get(DIRECT_HEADER) === '1' &&
    headers.get('content-type') === (pending.headers['content-type'] ?? null)
  )
}

/** The record without the mark: it was set last, and V8 deletes a last-added property cheaply. */
function unmarked(headers: Record<string, string>): Record<string, string> {
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the one key that must not leave
  delete headers[DIRECT_HEADER]
  return headers
}

/** The headers of hono's copy of the direct body's response, but the mark. */
function copiedHeaders(response: Response): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of response.headers) if (name !== DIRECT_HEADER) headers[name] = value
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  return headers
}

/**
 * Chunk by chunk, waiting for the socket to drain before reading more: a slow client slows the
 * source. A client that leaves ends the wait, and the source is cancelled (its request signal has
 * usually told it already).
 */
async function pipe(source: ChunkSource, outgoing: ServerResponse): Promise<void> {
  try {
    for (;;) {
      const next = await source.next()
      if (next.done) break
      if (outgoing.destroyed) {
        await source.cancel()
        return
      }
      if (!outgoing.write(next.value)) await drained(outgoing)
    }
    outgoing.end()
  } catch {
    // The source failed outside its own error frames: the client cannot be told more than a cut.
    outgoing.destroy()
  }
}

function drained(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off('drain', done)
      outgoing.off('close', done)
      resolve()
    }
    outgoing.on('drain', done)
    outgoing.on('close', done)
  })
}
