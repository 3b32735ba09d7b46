import type { Context } from 'hono'

/** Headers of every event stream the gateway sends, relayed, replayed or converted. */
export function setStreamHeaders(c: Context): void {
  c.header('content-type', 'text/event-stream; charset=utf-8')
  c.header('cache-control', 'no-cache')
  c.header('x-accel-buffering', 'no') // nginx in front must not buffer the stream
}

/** Whether a response is an event stream, whose end (and so its settling) comes after the handler returns. */
export function isEventStream(res: Response): boolean {
  return res.headers.get('content-type')?.startsWith('text/event-stream') === true
}
