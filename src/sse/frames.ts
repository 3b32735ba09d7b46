import type { Context } from 'hono'
import type { OpenAIErrorBody } from '../errors/gateway-error.js'
import { setHeader } from '../reply/reply.js'

// Frames are text until they leave: the frames made from one backend chunk are joined as a string
// and encoded once (frameBytes), a quarter of the cost of encoding each and concatenating bytes.

export const DONE_FRAME = 'data: [DONE]\n\n'

export function dataFrame(data: string): string {
  return `data: ${data}\n\n`
}

/** Once an SSE stream has started the status is already 200: errors travel as a data frame the openai SDK raises. */
export function errorFrame(body: OpenAIErrorBody): string {
  return dataFrame(JSON.stringify(body))
}

/** Frames (one or several, back to back) as the UTF-8 bytes sent to the client. */
export function frameBytes(frames: string): Uint8Array {
  return Buffer.from(frames, 'utf8')
}

/** Headers of every event stream the gateway sends, relayed, replayed or converted. */
export function setStreamHeaders(c: Context): void {
  setHeader(c, 'content-type', 'text/event-stream; charset=utf-8')
  setHeader(c, 'cache-control', 'no-cache')
  setHeader(c, 'x-accel-buffering', 'no') // nginx in front must not buffer the stream
}
