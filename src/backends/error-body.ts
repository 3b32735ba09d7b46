import { errorTypeFor, type OpenAIErrorBody } from '../errors/gateway-error.js'
import { isRecord } from '../lib/is-record.js'

const MAX_MESSAGE = 2_000

/**
 * A backend's error body → OpenAI's shape. Backends disagree: OpenAI and Ollama nest `{error:{...}}`
 * with a string code; vLLM and llama.cpp put the HTTP status in a numeric `code` (vLLM older builds
 * flat, without the `error` wrapper); TGI sends `{error: "...", error_type: "..."}`; FastAPI-style
 * hosts send `{detail: ...}`. A body we cannot read is not echoed (it may hold internals), only described.
 */
export function toOpenAIError(status: number, body: unknown, backend: string): OpenAIErrorBody {
  const type = errorTypeFor(status)
  const fallback = `Backend "${backend}" answered HTTP ${status}.`
  const shape = (message: unknown, extra: { type?: unknown; param?: unknown; code?: unknown } = {}): OpenAIErrorBody => ({
    error: {
      message: typeof message === 'string' && message !== '' ? message.slice(0, MAX_MESSAGE) : fallback,
      type: typeof extra.type === 'string' && extra.type !== '' ? extra.type : type,
      param: typeof extra.param === 'string' ? extra.param : null,
      code: typeof extra.code === 'string' ? extra.code : null,
    },
  })
  if (!isRecord(body)) return shape(undefined)
  const { error } = body
  if (isRecord(error)) return shape(error['message'], { type: error['type'], param: error['param'], code: error['code'] })
  if (typeof error === 'string') return shape(error, { code: body['error_type'] })
  if (body['object'] === 'error' || typeof body['message'] === 'string') {
    return shape(body['message'], { type: body['type'], param: body['param'], code: body['code'] })
  }
  const { detail } = body
  if (typeof detail === 'string') return shape(detail)
  if (isRecord(detail)) return shape(detail['error'] ?? detail['message'])
  if (Array.isArray(detail) && isRecord(detail[0])) return shape(detail[0]['msg'])
  return shape(undefined)
}
