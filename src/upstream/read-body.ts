import type { Readable } from 'node:stream'
import { gatewayError } from '../errors/gateway-error.js'
import { classifyUpstreamFailure } from './classify-failure.js'

/** Reads a whole (non-streaming) backend body, refusing one past `maxBytes` as soon as it is passed. */
export async function readUpstreamBody(body: Readable, maxBytes: number, backend: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > maxBytes) {
        body.destroy()
        throw gatewayError('upstream_bad_response', {
          message: `Backend "${backend}" sent a response larger than ${maxBytes} bytes.`,
        })
      }
      chunks.push(chunk)
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'GatewayError') throw err
    throw classifyUpstreamFailure(err, backend)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
