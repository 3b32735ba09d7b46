import type { Context } from 'hono'

// Response headers live in a plain record on the context, and a response is built from it in one
// step. hono's c.header() keeps them in a web `Headers` (on Node 20 its every set validates and
// copies), and @hono/node-server then copies them back into a record for Node. A response built
// by `reply` from a plain record goes to the socket without either: about 3% of a text request.
//
// Everything the gateway sets goes through setHeader. Headers set with c.header() are not seen by
// `reply` (eslint refuses c.header in src/): only a response hono built itself gets them.
//
// A folder of its own, importing nothing of the gateway's: errors, lib and every step build answers
// with it, and errors/ is itself imported from lib/.

export type ReplyVariables = { replyHeaders: Record<string, string> }

/** Set on responses built by `reply`: they carry the record already. (A WeakSet costs 0.8 µs an add.) */
const CARRIES_RECORD = Symbol('llava.carriesRecord')
type Marked = Response & { [CARRIES_RECORD]?: true }

/** The record, if any step has set a header yet. */
function recordOf(c: Context): Record<string, string> | undefined {
  return c.get('replyHeaders') as Record<string, string> | undefined
}

/** The headers every response to this request will carry; steps add to it with setHeader. */
export function replyHeaders(c: Context): Record<string, string> {
  let headers = recordOf(c)
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

/**
 * A response with the request's headers, and its own (a content type) over them. They are written
 * into the request's record, not into a copy: the record is built for this response, and on Node 20
 * spreading one costs about 1 µs.
 */
export function reply(
  c: Context,
  body: string | ReadableStream<Uint8Array> | null,
  status: number,
  own?: Readonly<Record<string, string>>,
): Response {
  const headers = replyHeaders(c)
  if (own) Object.assign(headers, own)
  const response: Marked = new Response(body, { status, headers })
  response[CARRIES_RECORD] = true
  return response
}

const JSON_TYPE = { 'content-type': 'application/json' } as const

/** `value` as a JSON response, as c.json() but with the request's headers. */
export function replyJson(c: Context, value: unknown, status = 200): Response {
  return replyJsonText(c, JSON.stringify(value), status)
}

/** JSON already serialised (a cached answer's body, made once), as a response with the request's headers. */
export function replyJsonText(c: Context, json: string, status = 200): Response {
  return reply(c, json, status, JSON_TYPE)
}

/**
 * A response that `reply` did not build (hono's c.json in a route, or a copy hono made of a replied
 * one) gets the request's headers, without replacing any it has. What server/carry-reply-headers.ts
 * does for every response.
 */
export function carryReplyRecord(c: Context): void {
  const record = recordOf(c)
  if (!record || (c.res as Marked)[CARRIES_RECORD]) return
  const headers = c.res.headers
  for (const [name, value] of Object.entries(record)) if (!headers.has(name)) headers.set(name, value)
}
