import type { Context, MiddlewareHandler } from 'hono'

// Response headers live in a plain record on the context, and a response is built from it in one
// step. hono's c.header() keeps them in a web `Headers` (on Node 20 its every set validates and
// copies), and @hono/node-server then copies them back into a record for Node. A response built
// by `reply` from a plain record goes to the socket without either: about 3% of a text request.
//
// Everything the gateway sets goes through setHeader. Headers set with c.header() are not seen by
// `reply` (eslint refuses c.header in src/): only a response hono built itself gets them.

export type ReplyVariables = { replyHeaders: Record<string, string> }

/** Responses built by `reply`: they carry the record already. */
const carriesRecord = new WeakSet<Response>()

/** The headers every response to this request will carry; steps add to it with setHeader. */
export function replyHeaders(c: Context): Record<string, string> {
  let headers = c.get('replyHeaders') as Record<string, string> | undefined
  if (!headers) {
    headers = {}
    c.set('replyHeaders', headers)
  }
  return headers
}

/** Sets a response header (lower-case name) for whatever response this request ends with. */
export function setHeader(c: Context, name: string, value: string): void {
  replyHeaders(c)[name] = value
}

/** Adds a value to a list header (`vary`), after any already set. */
export function appendHeader(c: Context, name: string, value: string): void {
  const headers = replyHeaders(c)
  const before = headers[name]
  headers[name] = before === undefined ? value : `${before}, ${value}`
}

/** A response with the request's headers, and its own (a content type) over them. */
export function reply(
  c: Context,
  body: string | ReadableStream<Uint8Array> | null,
  status: number,
  own?: Readonly<Record<string, string>>,
): Response {
  const record = replyHeaders(c)
  const response = new Response(body, { status, headers: own === undefined ? record : { ...record, ...own } })
  carriesRecord.add(response)
  return response
}

const JSON_TYPE = { 'content-type': 'application/json' } as const

/** `value` as a JSON response, as c.json() but with the request's headers. */
export function replyJson(c: Context, value: unknown, status = 200): Response {
  return reply(c, JSON.stringify(value), status, JSON_TYPE)
}

/**
 * Outermost middleware: a response that `reply` did not build (hono's c.json in a route, or a copy
 * hono made of a replied one) gets the request's headers here, without replacing any it has.
 */
export const carryReplyHeaders = (): MiddlewareHandler =>
  async function carryReplyHeaders(c, next) {
    await next()
    const record = c.get('replyHeaders') as Record<string, string> | undefined
    if (!record || carriesRecord.has(c.res)) return
    const headers = c.res.headers
    for (const [name, value] of Object.entries(record)) if (!headers.has(name)) headers.set(name, value)
  }
