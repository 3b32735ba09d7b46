import type { Context } from 'hono'
import { gatewayError, GatewayError } from '../errors/gateway-error.js'
import { releaseBodyMemory, watchBodyMemory } from '../lib/body-memory.js'
import { formatPath } from '../lib/json-path.js'
import { NotUtf8Error, parseJson, parseJsonNow, type BeforeDecode, type DataUrlPayloads, type KeepPayloads } from '../lib/json-parse.js'
import { bytesOutside, scanJson, scanJsonNow, type JsonScan } from '../lib/json-scan.js'
import { nodeRequestOf } from '../lib/node-env.js'
import { checkBeforeJoin } from '../lib/json-chunks.js'
import { readCapped, type BeforeJoin, type PauseAt } from '../lib/read-capped.js'
import { LARGE_WORK_BYTES, type Lease, type WorkGate } from '../lib/work-gate.js'

/**
 * Unused bytes on each side of a body read in several chunks (any with an image as a data URL):
 * the JSON the backend gets before its first image, and after its last, may each be this much
 * longer than the client's (a model renamed for the backend, usage asked for on a stream) and still
 * be written around the client's bytes, not copied with them (see upstream/client-body.ts).
 */
const SPARE_BYTES = 256

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
 * The limits; a check of the parsed body made before its long texts are decoded; and the strings
 * in it that stand where a long data URL's payload stays bytes (image parts' URLs). See parseJson.
 */
export type BodyRules = BodyLimits & Readonly<{ beforeDecode?: BeforeDecode; payloadsAt?: KeepPayloads['at'] }>

/**
 * `payloads` holds the base64 payloads of the long data URLs at `payloadsAt`, kept as the body's
 * own bytes: in `body` each such URL is its header and a placeholder (see parseJson in
 * lib/json-parse.ts). `bytes` is the body as it came.
 */
export type JsonBody = { body: Record<string, unknown>; payloads: DataUrlPayloads; bytes: Buffer }

/** Throws what it refuses before the body is read (its Content-Type, its declared length); rejects what it refuses later. */
export function readJsonBody(c: Context, rules: BodyRules, largeWork?: WorkGate): Promise<JsonBody> {
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
  const declared = Number(c.req.header('content-length') ?? NaN)
  if (declared > rules.bodyLimitBytes) throw tooLarge(rules.bodyLimitBytes)
  const declaredLarge = declared > LARGE_WORK_BYTES
  // Node's parser holds a body to its Content-Length: only a chunked one (no length) can grow past it.
  if (largeWork && (declaredLarge || Number.isNaN(declared))) return readInTurn(c, rules, largeWork, declaredLarge)
  // Parsed as the read ends, in the same then: each layer of promise costs every request a turn.
  return readBody(c, rules, undefined, (bytes) => parseBody(bytes, rules))
}

/**
 * How long a body that declares more than LARGE_WORK_BYTES may take to arrive while it holds the
 * gate: a 32 MiB body crosses a 1 Gbit/s link in about 270 ms. A slower sender is not cut off: it
 * gives the turn up, reads on beside the others, and takes a new turn for its parse.
 */
export const BODY_READ_LEASE_MS = 1_000

/**
 * A body over LARGE_WORK_BYTES is read in its turn at the gate, not only parsed in it. Eight such
 * bodies read at once put eight sockets' reads into every turn of the event loop (and eight bodies
 * into memory); one at a time, the others wait unread in the kernel while TCP holds their senders
 * back. With eight clients sending 32 MiB bodies, a small client's p50 fell from 10-13 ms to 5-8
 * ms this way. A body that declares its length (`declaredLarge`) takes its turn before any of it is
 * read; a chunked one declares nothing, so it is read until it passes LARGE_WORK_BYTES and then
 * waits there, unread, for its turn (twenty chunked 30 MiB bodies sent at once: peak RSS 360 MB,
 * not 1.1-1.3 GB, and all answered in 2.2 s, not 4.4). One that ends before that never waits.
 */
async function readInTurn(c: Context, rules: BodyRules, largeWork: WorkGate, declaredLarge: boolean): Promise<JsonBody> {
  // The request's signal is made when first asked for: a small chunked body never needs it.
  const signal = () => c.req.raw.signal
  let lease: Lease | undefined
  let ended = false
  const takeTurn = async () => {
    const taken = await largeWork.lease(BODY_READ_LEASE_MS, signal())
    // A read that failed while this waited (the client left) has nothing left to release it.
    if (ended) taken.release()
    else lease = taken
  }
  try {
    if (declaredLarge) await takeTurn()
    const bytes = await readBody(c, rules, declaredLarge ? undefined : { afterBytes: LARGE_WORK_BYTES, until: takeTurn }, (read) => read)
    if (lease?.keep() ?? bytes.length <= LARGE_WORK_BYTES) return await parseBody(bytes, rules)
    return await largeWork.run(async () => parseBody(bytes, rules), signal())
  } finally {
    ended = true
    lease?.release()
  }
}

/**
 * The bytes scanned (depth, long strings) and parsed into the request object. A body refused here
 * (a 32 MiB text that cannot fit, JSON nested too deep) has been seen by nothing else: its memory
 * goes back at once (lib/body-memory.ts). A body of one slice with no long string (nearly all of
 * them) is scanned and parsed at once: no promise, no turn of the queue.
 */
function parseBody(bytes: Buffer, rules: BodyRules): JsonBody | Promise<JsonBody> {
  const refused = (err: unknown): never => {
    releaseBodyMemory(bytes)
    throw err
  }
  try {
    if (bytes.length === 0) throw gatewayError('invalid_json', { message: 'Request body is empty; send a JSON object.' })
    const scanned = scanJsonNow(bytes, rules.maxJsonDepth, LONG_STRING_BYTES)
    const parsed = scanned
      ? parseScanned(bytes, scanned, rules)
      : scanJson(bytes, rules.maxJsonDepth, LONG_STRING_BYTES).then((later) => parseScanned(bytes, later, rules))
    return parsed instanceof Promise ? parsed.catch(refused) : parsed
  } catch (err) {
    return refused(err)
  }
}

function parseScanned(bytes: Buffer, { tooDeep, longStrings }: JsonScan, rules: BodyRules): JsonBody | Promise<JsonBody> {
  if (tooDeep) {
    throw gatewayError('invalid_request', {
      param: formatPath(tooDeep.path) || null,
      message: `The request body nests deeper than ${rules.maxJsonDepth} levels at ${formatPath(tooDeep.path) || 'its root'} (server.maxJsonDepth).`,
    })
  }
  const parsed = bytesOutside(bytes, longStrings)
  if (parsed > MAX_PARSED_BYTES) {
    throw gatewayError('request_too_large', {
      message: `The request body holds ${parsed} bytes of JSON outside its long strings (images, long texts); the limit is ${MAX_PARSED_BYTES}.`,
    })
  }
  const payloads: DataUrlPayloads = new Map()
  if (longStrings.length === 0) {
    let body: unknown
    try {
      body = parseJsonNow(bytes)
    } catch (err) {
      throw notJson(err, bytes)
    }
    return asRequestObject(body, payloads, bytes)
  }
  const keepPayloads = rules.payloadsAt && { at: rules.payloadsAt, into: payloads }
  return parseJson(bytes, longStrings, { keepPayloads, beforeDecode: rules.beforeDecode }).then(
    (body) => asRequestObject(body, payloads, bytes),
    (err: unknown) => {
      throw notJson(err, bytes)
    },
  )
}

/** What the client is told of a body JSON.parse refused; beforeDecode's own refusal as it is. */
function notJson(err: unknown, bytes: Buffer): GatewayError {
  if (err instanceof GatewayError) return err
  // Strict: invalid UTF-8 is refused, not silently replaced with U+FFFD and accepted. (An image's
  // payload kept as bytes is checked by the image step, which accepts only base64's alphabet.)
  if (err instanceof NotUtf8Error) return gatewayError('invalid_json', { message: 'Request body is not valid UTF-8.' })
  if (bytes.length <= LONG_STRING_BYTES && bytes.toString('latin1').trim() === '') {
    return gatewayError('invalid_json', { message: 'Request body is empty; send a JSON object.' })
  }
  return gatewayError('invalid_json', { message: `Request body is not valid JSON: ${(err as Error).message}.` })
}

function asRequestObject(body: unknown, payloads: DataUrlPayloads, bytes: Buffer): JsonBody {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body
    throw gatewayError('invalid_request', { message: `Request body must be a JSON object, got ${got}.` })
  }
  return { body: body as Record<string, unknown>, payloads, bytes }
}

/**
 * JSON outside the long strings that a body still in its chunks may have for beforeDecode to see it
 * there: a body that check can refuse (a text too long for its model) is mostly one long string.
 */
const MAX_OUTSIDE_BEFORE_JOIN = 64 * 1024

/**
 * A large body's beforeDecode check, made before its chunks are joined (lib/json-chunks.ts): a 32
 * MiB text that cannot fit is refused without a copy of itself (35 ms of CPU, not 79). A
 * body of a few megabytes is joined first, as any other: its join costs little.
 */
function checkBeforeJoining({ beforeDecode, maxJsonDepth }: BodyRules): BeforeJoin | undefined {
  if (!beforeDecode) return undefined
  return async (chunks, size) => {
    if (size <= LARGE_WORK_BYTES) return
    const limits = { longStringBytes: LONG_STRING_BYTES, maxOutsideBytes: MAX_OUTSIDE_BEFORE_JOIN, maxDepth: maxJsonDepth }
    await checkBeforeJoin(chunks, limits, beforeDecode)
  }
}

const tooLarge = (limitBytes: number) =>
  gatewayError('request_too_large', {
    message: `Request body is larger than the gateway's limit of ${limitBytes} bytes (server.bodyLimitBytes).`,
  })

/**
 * The body's bytes, at most `limitBytes` of them, handed to `then`. The Node request itself where
 * there is one: reading it skips the web ReadableStream and Request the adapter would otherwise
 * build around it (a fifth of a small request's cost).
 */
function readBody<T>(c: Context, rules: BodyRules, pause: PauseAt | undefined, then: (bytes: Buffer) => T | Promise<T>): Promise<T> {
  const source = nodeRequestOf(c) ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array> | null)
  if (!source) return Promise.resolve(Buffer.alloc(0)).then(then)
  const limitBytes = rules.bodyLimitBytes
  return readCapped(source, limitBytes, { pause, spareBytes: SPARE_BYTES, beforeJoin: checkBeforeJoining(rules) }).then((bytes) => {
    if (!bytes) throw tooLarge(limitBytes)
    watchBodyMemory(bytes)
    return then(bytes)
  })
}
