import { isUtf8 } from 'node:buffer'
import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import { gatewayError } from '../errors/gateway-error.js'
import { formatPath } from '../lib/json-path.js'
import { bytesOutside, parseJson, scanJson, type DataUrlPayloads } from '../lib/json-scan.js'
import { nodeRequestOf } from '../lib/node-env.js'
import { readCapped } from '../lib/read-capped.js'
import { LARGE_WORK_BYTES, type WorkGate } from '../lib/work-gate.js'

/** String values longer than this (base64 images, long texts) are kept out of JSON.parse: see parseJson. */
const LONG_STRING_BYTES = 64 * 1024

/**
 * The most JSON.parse is given in one call: the body outside its long strings. No real chat request
 * comes near it (4 MiB is about a million tokens of short strings), and parsing it takes tens of
 * milliseconds of the event loop every tenant shares.
 */
export const MAX_PARSED_BYTES = 4 * 1024 * 1024

/**
 * The body as a JSON object, or a clear 4xx. The size limit is enforced from Content-Length at
 * once and again while the body streams in (a chunked body declares no length), so an oversized
 * body is refused without being held in memory.
 */
export type BodyLimits = Readonly<{ bodyLimitBytes: number; maxJsonDepth: number }>

/**
 * `payloads` holds the base64 payloads of long data URLs, kept as the body's own bytes: in `body`
 * each such URL is its header and a placeholder (see parseJson in lib/json-scan.ts).
 */
export type JsonBody = { body: Record<string, unknown>; payloads: DataUrlPayloads }

export async function readJsonBody(c: Context, limits: BodyLimits, largeWork?: WorkGate): Promise<JsonBody> {
  const contentType = c.req.header('content-type')
  // A missing Content-Type is read as JSON (some hand-written clients omit it); a different one is refused.
  if (contentType !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw gatewayError('unsupported_content_type', {
      message: `Content-Type must be application/json, got "${contentType.slice(0, 100)}".`,
    })
  }
  // JSON is UTF-8 (RFC 8259 §8.1): a body declared in another charset would be read as garbage.
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')?.[1]?.toLowerCase()
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw gatewayError('unsupported_content_type', {
      message: `The request body must be UTF-8 JSON; got charset "${charset.slice(0, 40)}".`,
    })
  }
  // The Node request itself where there is one: reading it skips the web ReadableStream and Request
  // the adapter would otherwise build around it (a fifth of a small request's cost).
  const bytes = await readLimited(c.req.raw, nodeRequestOf(c), limits.bodyLimitBytes)
  if (bytes.length === 0) throw gatewayError('invalid_json', { message: 'Request body is empty; send a JSON object.' })
  if (largeWork && bytes.length > LARGE_WORK_BYTES) return largeWork.run(() => parseBody(bytes, limits), c.req.raw.signal)
  return parseBody(bytes, limits)
}

/** The bytes scanned (depth, long strings) and parsed into the request object. */
async function parseBody(bytes: Buffer, limits: BodyLimits): Promise<JsonBody> {
  // Strict: invalid UTF-8 is refused, not silently replaced with U+FFFD and accepted. (Checked here,
  // in the large body's turn: 32 MiB take a few milliseconds of the event loop.)
  if (!isUtf8(bytes)) throw gatewayError('invalid_json', { message: 'Request body is not valid UTF-8.' })
  const { tooDeep, longStrings } = await scanJson(bytes, limits.maxJsonDepth, LONG_STRING_BYTES)
  if (tooDeep) {
    throw gatewayError('invalid_request', {
      param: formatPath(tooDeep.path) || null,
      message: `The request body nests deeper than ${limits.maxJsonDepth} levels at ${formatPath(tooDeep.path) || 'its root'} (server.maxJsonDepth).`,
    })
  }
  const parsed = bytesOutside(bytes, longStrings)
  if (parsed > MAX_PARSED_BYTES) {
    throw gatewayError('request_too_large', {
      message: `The request body holds ${parsed} bytes of JSON outside its long strings (images, long texts); the limit is ${MAX_PARSED_BYTES}.`,
    })
  }
  let body: unknown
  const payloads: DataUrlPayloads = new Map()
  try {
    body = await parseJson(bytes, longStrings, payloads)
  } catch (err) {
    if (bytes.length <= LONG_STRING_BYTES && bytes.toString('latin1').trim() === '') {
      throw gatewayError('invalid_json', { message: 'Request body is empty; send a JSON object.' })
    }
    throw gatewayError('invalid_json', { message: `Request body is not valid JSON: ${(err as Error).message}.` })
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body
    throw gatewayError('invalid_request', { message: `Request body must be a JSON object, got ${got}.` })
  }
  return { body: body as Record<string, unknown>, payloads }
}

async function readLimited(request: Request, incoming: IncomingMessage | undefined, limitBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    gatewayError('request_too_large', {
      message: `Request body is larger than the gateway's limit of ${limitBytes} bytes (server.bodyLimitBytes).`,
    })
  if (Number(request.headers.get('content-length') ?? NaN) > limitBytes) throw tooLarge()
  const source = incoming ?? (request.body as unknown as AsyncIterable<Uint8Array> | null)
  if (!source) return Buffer.alloc(0)
  const bytes = await readCapped(source, limitBytes)
  if (!bytes) throw tooLarge()
  return bytes
}
