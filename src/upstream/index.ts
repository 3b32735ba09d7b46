import type { Context, MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { UpstreamHttpError } from '../errors/upstream-http-error.js'
import { isRecord } from '../lib/is-record.js'
import { toOpenAIError } from '../backends/error-body.js'
import type { UpstreamResponse } from '../backends/client.js'
import { parseJson, readUpstreamBody } from './read-body.js'
import { relayStream, type StreamObserver } from './relay-stream.js'
import { streamMeter } from './stream-meter.js'
import { combineObservers, streamCapture } from './stream-capture.js'
import { createLabeler } from '../metrics/labels.js'
import { forwardedHeaders } from './response-headers.js'
import { clientWantsUsage } from './upstream-body.js'
import { sendWithFailover } from './failover.js'
import { setStreamHeaders } from './stream-headers.js'
import { toCachedCompletion } from '../cache/entry.js'
import { replayStream } from '../cache/replay.js'

/** A finished completion is small; anything near this is a broken or hostile backend. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024

export const USAGE_SOURCE_HEADER = 'x-gateway-usage-source'

/** Step 8: send the normalized request to the model's backend (or its fallbacks) and relay the answer. */
export const upstream = ({
  config,
  upstream: client,
  metrics,
  clock,
}: Pick<Deps, 'config' | 'upstream' | 'metrics' | 'clock'>): MiddlewareHandler<AppEnv> => {
  const labeler = createLabeler(config)
  return async function forwardToBackend(c) {
    const request = c.get('chatRequest')
    const model = c.get('model')
    const modelLabel = labeler.modelLabel(model)
    const stream = String(request.stream === true)
    const sent = clock.now()
    const { backend, res } = await sendWithFailover(client, config, {
      request,
      images: c.get('images'),
      model,
      headers: {
        'content-type': 'application/json',
        accept: request.stream === true ? 'text/event-stream' : 'application/json',
        'x-request-id': c.get('requestId'),
      },
      // @hono/node-server aborts this signal when the client disconnects; undici then drops the backend request.
      signal: c.req.raw.signal,
      onFailover: (failed) => metrics.backendFailovers.inc({ model: modelLabel, backend: failed }),
    })
    const observeUpstream = () => metrics.upstreamDuration.observe({ model: modelLabel, backend, stream }, (clock.now() - sent) / 1000)
    for (const [name, value] of Object.entries(forwardedHeaders(res.headers))) c.header(name, value)

    const isEventStream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream')
    if (res.status >= 200 && res.status < 300 && request.stream === true && isEventStream) {
      const meter = streamMeter(c.get('usage'), {
        firstToken: () => metrics.timeToFirstToken.observe({ model: modelLabel, cache: 'miss' }, (clock.now() - c.get('startedAt')) / 1000),
        finished: observeUpstream,
      })
      const sink = c.get('cacheSink')
      const observer = sink ? combineObservers(meter, streamCapture(sink, c.get('usage'))) : meter
      return streamResponse(c, res, backend, clientWantsUsage(request), observer)
    }
    const text = await readUpstreamBody(res.body, MAX_RESPONSE_BYTES, backend)
    observeUpstream()
    const body = parseJson(text)
    if (res.status < 200 || res.status >= 300) throw upstreamHttpError(res.status, body, backend)
    if (!isRecord(body) || !Array.isArray(body['choices'])) {
      throw gatewayError('upstream_bad_response', {
        message: `Backend "${backend}" answered HTTP ${res.status} with a body that is not a chat completion.`,
      })
    }
    const settled = c.get('usage').settle(body['usage'], () => completionText(body))
    const completion = { ...body, usage: settled.usage }
    await c.get('cacheSink')?.complete(completion, settled)
    c.header(USAGE_SOURCE_HEADER, settled.source)
    if (request.stream === true) {
      // A backend that ignored `stream` (some do for images): the client still gets the stream it asked for.
      const whole = toCachedCompletion(completion, settled.usage, settled.source, clock.now())
      if (!whole) {
        throw gatewayError('upstream_bad_response', {
          message: `Backend "${backend}" answered a streaming request with an incomplete completion.`,
        })
      }
      setStreamHeaders(c)
      return c.body(replayStream(whole, clientWantsUsage(request)), 200)
    }
    return c.json(completion, res.status as 200)
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

function streamResponse(
  c: Context<AppEnv>,
  res: UpstreamResponse,
  backend: string,
  wantsUsage: boolean,
  observer: StreamObserver,
): Response {
  setStreamHeaders(c)
  return c.body(relayStream(res.body, { backend, clientWantsUsage: wantsUsage, observer }), 200)
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
