import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { Context } from 'hono'
import { nodeResponseOf } from './node-env.js'

/**
 * The client's leaving, for the calls a request makes on its behalf (the backend request, the
 * stream relay): `aborted`, and an 'abort' event that undici and the relay listen for. Either a
 * web AbortSignal or a ClientGone, which both fit.
 */
export type ClientSignal = AbortSignal | ClientGone

/**
 * The same as the request's AbortSignal, made from the Node response's 'close': on Node 20 an
 * AbortController and its listeners cost about 6 µs, an EventEmitter a few hundred nanoseconds,
 * and every forwarded request needs one. The client has left when the response closes before it
 * has finished (as @hono/node-server decides for the request's own signal).
 */
export class ClientGone extends EventEmitter {
  aborted = false

  constructor(response: ServerResponse) {
    super()
    if (response.destroyed && !response.writableFinished) this.aborted = true
    else response.once('close', () => !response.writableFinished && this.abort())
  }

  /** EventTarget's spelling, which the relay and undici use when it is there. */
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void {
    if (options?.once) this.once(type, listener)
    else this.on(type, listener)
  }

  removeEventListener(type: 'abort', listener: () => void): void {
    this.removeListener(type, listener)
  }

  private abort(): void {
    this.aborted = true
    this.emit('abort')
  }
}

/**
 * The request's ClientSignal: a ClientGone on its Node response under @hono/node-server; the web
 * request's own signal where there is no Node response (`app.request()` in tests). Each call makes
 * a new one: ask once per request and pass it on.
 */
export function clientSignal(c: Context): ClientSignal {
  const outgoing = nodeResponseOf(c)
  return outgoing ? new ClientGone(outgoing) : c.req.raw.signal
}
