import type { Context } from 'hono'
import type { OpenAIErrorBody } from '../errors/gateway-error.js'

const encoder = new TextEncoder()

export const DONE_FRAME = encoder.encode('data: [DONE]\n\n')

export function dataFrame(data: string): Uint8Array {
  return encoder.encode(`data: ${data}\n\n`)
}

/** Once an SSE stream has started the status is already 200: errors travel as a data frame the openai SDK raises. */
export function errorFrame(body: OpenAIErrorBody): Uint8Array {
  return dataFrame(JSON.stringify(body))
}

/** Several frames made from one backend chunk go out as one chunk: fewer writes and stream hops. */
export function joinFrames(frames: readonly Uint8Array[]): Uint8Array {
  return frames.length === 1 ? (frames[0] as Uint8Array) : Buffer.concat(frames)
}

/** Headers of every event stream the gateway sends, relayed, replayed or converted. */
export function setStreamHeaders(c: Context): void {
  c.header('content-type', 'text/event-stream; charset=utf-8')
  c.header('cache-control', 'no-cache')
  c.header('x-accel-buffering', 'no') // nginx in front must not buffer the stream
}
