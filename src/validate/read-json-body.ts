import type { Context } from 'hono'
import { gatewayError } from '../errors/gateway-error.js'

/**
 * The body as a JSON object, or a clear 4xx. The body limit itself is enforced while reading,
 * by hono's bodyLimit middleware ahead of this step.
 */
export async function readJsonBody(c: Context): Promise<Record<string, unknown>> {
  const contentType = c.req.header('content-type')
  // A missing Content-Type is read as JSON (some hand-written clients omit it); a different one is refused.
  if (contentType !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw gatewayError('unsupported_content_type', {
      message: `Content-Type must be application/json, got "${contentType.slice(0, 100)}".`,
    })
  }
  const text = await c.req.text()
  if (text.trim() === '') throw gatewayError('invalid_json', { message: 'Request body is empty; send a JSON object.' })
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err) {
    throw gatewayError('invalid_json', { message: `Request body is not valid JSON: ${(err as Error).message}.` })
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body
    throw gatewayError('invalid_request', { message: `Request body must be a JSON object, got ${got}.` })
  }
  return body as Record<string, unknown>
}
