import type { Context } from 'hono'

/** Headers of every event stream the gateway sends, relayed, replayed or converted. */
export function setStreamHeaders(c: Context): void {
  c.header('content-type', 'text/event-stream; charset=utf-8')
  c.header('cache-control', 'no-cache')
  c.header('x-accel-buffering', 'no') // nginx in front must not buffer the stream
}
