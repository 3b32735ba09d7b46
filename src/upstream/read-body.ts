import { NOT_ENDED, readAnswerBody, readAnswerBodyNow, type AnswerBody } from '../backends/whole-answer.js'
import { gatewayError } from '../errors/gateway-error.js'
import { classifyMidResponseFailure } from '../backends/classify-failure.js'

/** Reads a whole (non-streaming) backend body's bytes, refusing one past `maxBytes` as soon as it is passed. */
export async function readUpstreamBody(body: AnswerBody, maxBytes: number, backend: string): Promise<Buffer> {
  let bytes: Buffer | undefined
  try {
    bytes = await readAnswerBody(body, maxBytes)
  } catch (err) {
    throw classifyMidResponseFailure(err, backend)
  }
  return withinLimit(bytes, maxBytes, backend)
}

/**
 * readUpstreamBody at once, with no promise, when the body has all come already (see
 * CollectedBody.bytesNow): most answers have by the time they are read. Undefined when it has not.
 */
export function readUpstreamBodyNow(body: AnswerBody, maxBytes: number, backend: string): Buffer | undefined {
  let bytes: Buffer | undefined | typeof NOT_ENDED
  try {
    bytes = readAnswerBodyNow(body, maxBytes)
  } catch (err) {
    throw classifyMidResponseFailure(err, backend)
  }
  return bytes === NOT_ENDED ? undefined : withinLimit(bytes, maxBytes, backend)
}

function withinLimit(bytes: Buffer | undefined, maxBytes: number, backend: string): Buffer {
  if (!bytes) {
    throw gatewayError('upstream_bad_response', { message: `Backend "${backend}" sent a response larger than ${maxBytes} bytes.` })
  }
  return bytes
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
