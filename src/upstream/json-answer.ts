import { toOpenAIError } from '../backends/error-body.js'
import { withModel } from '../completion/client-model.js'
import type { SettledUsage } from '../completion/usage.js'
import { toWholeCompletion } from '../completion/whole-completion.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { UpstreamHttpError } from '../errors/upstream-http-error.js'
import type { AppDeps } from '../deps.js'
import { isRecord } from '../lib/is-record.js'
import { scanJson, scanJsonNow, type JsonScan } from '../lib/json-scan.js'
import { settledAsReported, settleUsage } from '../meter/index.js'
import { setStreamHeaders } from '../sse/frames.js'
import { streamedBody } from '../lib/direct-body.js'
import { replyJson, replyJsonText, setHeader } from '../reply/reply.js'
import { replayStream } from '../sse/replay.js'
import { cacheStoresAnswer, type Ctx, type Exchange } from './exchange.js'
import { parseJson, readUpstreamBody, readUpstreamBodyNow } from './read-body.js'
import { clientWantsUsage } from './upstream-body.js'
import { USAGE_SOURCE_HEADER } from './usage-header.js'

/** A finished completion is small, and shallow; anything near these is a broken or hostile backend. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024
const MAX_RESPONSE_DEPTH = 64

/**
 * A backend answer read whole: an error status becomes an OpenAI-shaped error, a completion gets
 * its usage filled in and goes back as JSON, or as a stream when the client asked for one and the
 * backend ignored `stream` (some do for images). At once, with no promise, when the answer has all
 * come, is scanned in one slice and reports its usage (most answers): each await would cost every
 * forwarded request a promise and a turn of the microtask queue.
 */
export function answerWhole(c: Ctx, exchange: Exchange, deps: AnswerDeps): Response | Promise<Response> {
  const bytes = readNow(exchange)
  return bytes === undefined ? answerOnceRead(c, exchange, deps) : answerBytes(c, exchange, deps, bytes)
}

type AnswerDeps = Pick<AppDeps, 'clock' | 'tokens'>

async function answerOnceRead(c: Ctx, exchange: Exchange, deps: AnswerDeps): Promise<Response> {
  const { res, backend } = exchange
  const bytes = await readUpstreamBody(res.body, MAX_RESPONSE_BYTES, backend).catch(exchange.fail)
  return answerBytes(c, exchange, deps, bytes)
}

function answerBytes(c: Ctx, exchange: Exchange, deps: AnswerDeps, bytes: Buffer): Response | Promise<Response> {
  const scanned = scanJsonNow(bytes, MAX_RESPONSE_DEPTH)
  if (scanned) return answerScanned(c, exchange, deps, bytes, scanned)
  return scanJson(bytes, MAX_RESPONSE_DEPTH).then((later) => answerScanned(c, exchange, deps, bytes, later))
}

function answerScanned(c: Ctx, exchange: Exchange, deps: AnswerDeps, bytes: Buffer, { tooDeep }: JsonScan): Response | Promise<Response> {
  const { res, backend } = exchange
  // The answer is re-serialised (to the client, into the cache): a backend cannot make that recurse without end.
  if (tooDeep) {
    return exchange.fail(
      gatewayError('upstream_bad_response', { message: `Backend "${backend}" sent JSON nested deeper than ${MAX_RESPONSE_DEPTH} levels.` }),
    )
  }
  const text = bytes.toString('utf8')
  const body = parseJson(text)
  if (res.status < 200 || res.status >= 300) exchange.fail(upstreamHttpError(res.status, body, backend))
  if (!isRecord(body) || !Array.isArray(body['choices'])) {
    return exchange.fail(
      gatewayError('upstream_bad_response', {
        message: `Backend "${backend}" answered HTTP ${res.status} with a body that is not a chat completion.`,
      }),
    )
  }
  const prompt = c.get('prompt')
  const usage = settledAsReported(prompt, body['usage'])
  if (usage) return answerSettled(c, exchange, deps, text, body, usage)
  return settleUsage(prompt, body['usage'], () => completionText(body), deps.tokens).then((settled) =>
    answerSettled(c, exchange, deps, text, body, settled),
  )
}

function answerSettled(
  c: Ctx,
  exchange: Exchange,
  { clock }: AnswerDeps,
  text: string,
  body: Record<string, unknown>,
  usage: SettledUsage,
): Response {
  const { res, backend } = exchange
  const request = c.get('chatRequest')
  // The model id the client asked for, not the backend's name for it (an Ollama tag, an HF path).
  // Made only when something reads it, once: most answers go back as the backend's own text (asReported).
  let built: Record<string, unknown> | undefined
  const answered = () => (built ??= { ...body, model: request.model, usage: usage.usage })
  // A stream is replayed from it when the client asked for one.
  const needed = request.stream === true || cacheStoresAnswer(exchange)
  const answer = needed ? toWholeCompletion(answered(), usage.usage, clock.now()) : undefined
  const complete = (outcome: 'completed' | 'client_aborted') =>
    exchange.complete(
      answer && outcome === 'completed' ? { outcome, status: res.status, usage, answer } : { outcome, status: res.status, usage },
    )
  setHeader(c, USAGE_SOURCE_HEADER, usage.source)
  if (request.stream !== true) {
    complete('completed')
    // Usage as the backend reported it: only the model id changes, and the backend's text says the rest.
    const asReported = usage.source === 'upstream' && isRecord(body['usage']) && body['usage']['total_tokens'] === usage.usage.total_tokens
    return asReported ? replyJsonText(c, withModel(text, body, request.model), res.status) : replyJson(c, answered(), res.status)
  }
  if (!answer) {
    return exchange.fail(
      gatewayError('upstream_bad_response', {
        message: `Backend "${backend}" answered a streaming request with an incomplete completion.`,
      }),
    )
  }
  c.get('finish').handOff()
  setStreamHeaders(c)
  return streamedBody(
    c,
    replayStream(answer, clientWantsUsage(request), (cancelled) => complete(cancelled ? 'client_aborted' : 'completed')),
  )
}

/** The answer's bytes when they have all come already (most have, by now); a failure fails the exchange. */
function readNow({ res, backend, fail }: Exchange): Buffer | undefined {
  try {
    return readUpstreamBodyNow(res.body, MAX_RESPONSE_BYTES, backend)
  } catch (err) {
    // Only GatewayErrors come out of it: the body's own failure is classified there.
    return fail(err as GatewayError)
  }
}

/** All generated text of a completion, for counting completion tokens when the backend did not. */
function completionText(body: Record<string, unknown>): string {
  const choices = Array.isArray(body['choices']) ? body['choices'] : []
  return choices
    .map((choice) => {
      const message = isRecord(choice) ? choice['message'] : undefined
      const content = isRecord(message) ? message['content'] : undefined
      return typeof content === 'string' ? content : ''
    })
    .join('')
}

/**
 * A backend's HTTP error keeps its status, in OpenAI's shape. The exception: 401/403 mean the
 * gateway's own upstream credential is wrong, which the client can do nothing about, so they
 * become 502 rather than telling the client its (valid) gateway key was refused.
 */
function upstreamHttpError(status: number, body: unknown, backend: string): GatewayError | UpstreamHttpError {
  if (status === 401 || status === 403) {
    return gatewayError('upstream_auth_failed', {
      message: `Backend "${backend}" refused the gateway's credential (HTTP ${status}); check its apiKey in the gateway config.`,
      headers: { 'x-should-retry': 'false' },
    })
  }
  return new UpstreamHttpError(status, toOpenAIError(status, body, backend))
}
