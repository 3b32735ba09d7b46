import { Readable } from 'node:stream'
import type { CacheResult } from '../completion/completion.js'
import type { AppDeps } from '../deps.js'
import { GatewayError, gatewayError } from '../errors/gateway-error.js'
import { UpstreamHttpError } from '../errors/upstream-http-error.js'
import type { HashKey } from '../backends/balance/rendezvous.js'
import { affinityKeyFor, routesByAffinity } from './affinity-key.js'
import { sendWithFailover, type Attempt } from './failover.js'
import type { Ctx, Exchange } from './exchange.js'
import { answerWhole, MAX_RESPONSE_BYTES } from './json-answer.js'
import { forwardedHeaders } from './response-headers.js'
import { answerStream } from './stream-answer.js'
import { clientSignal } from '../lib/client-signal.js'
import { setHeader } from '../reply/reply.js'

/** The request sent to the model's backend (a replica of it, or its fallbacks), its answer relayed as a stream or returned whole. */
export function answerFromBackend(deps: Pick<AppDeps, 'config' | 'upstreamClient' | 'metrics' | 'clock' | 'labels' | 'tokens' | 'pools'>) {
  const { config, upstreamClient, metrics, clock, labels, pools } = deps
  // Not async: the backend's answer is the one wait, handled in one then; an async function and
  // the awaits around it would cost every forwarded request more promises and microtask turns.
  return function forwardToBackend(c: Ctx, cache: CacheResult): Promise<Response> {
    const request = c.get('chatRequest')
    const model = c.get('model')
    const finish = c.get('finish')
    const signal = clientSignal(c)
    const sent = clock.now()
    const elapsed = () => clock.now() - sent
    let backend: string | undefined = undefined

    const fail = (err: unknown): never => {
      if (signal.aborted) {
        // The client left and the backend call was dropped with it: the client's doing, not the backend's.
        const left = gatewayError('client_closed_request', { cause: err })
        finish.complete({
          outcome: 'client_aborted',
          status: left.status,
          cache,
          ...(backend === undefined ? {} : { backend, upstreamMs: elapsed() }),
          error: { code: left.code, message: left.message },
        })
        throw left
      }
      if (err instanceof UpstreamHttpError || (err instanceof GatewayError && err.code.startsWith('upstream_'))) {
        finish.complete({
          outcome: 'upstream_error',
          status: err.status,
          cache,
          ...(backend === undefined ? {} : { backend, upstreamMs: elapsed() }),
          error: { code: err instanceof GatewayError ? err.code : (err.body.error.code ?? `http_${err.status}`), message: err.message },
        })
      }
      throw err
    }

    const images = c.get('requestImages')
    const send = (affinityKey: HashKey | undefined) =>
      sendWithFailover(
        upstreamClient,
        pools,
        config,
        {
          request,
          images,
          clientBody: c.get('clientBody'),
          model,
          affinityKey,
          headers: {
            'content-type': 'application/json',
            accept: request.stream === true ? 'text/event-stream' : 'application/json',
            'x-request-id': c.get('requestId'),
          },
          // Fires when the client disconnects (ClientGone); undici then drops the backend request.
          signal,
          // Only a stream is relayed as it comes; any other answer is read whole (answerWhole).
          wholeAnswerMaxBytes: request.stream === true ? undefined : MAX_RESPONSE_BYTES,
          onFailover: (failed) => metrics.backendFailovers.inc({ model: labels.modelLabel(model), backend: failed }),
        },
        () => clock.now(),
      )

    const answer = ({ res, ...attempt }: Attempt): Response | Promise<Response> => {
      backend = attempt.backend
      for (const [name, value] of Object.entries(forwardedHeaders(res.headers))) setHeader(c, name, value)

      const exchange: Exchange = {
        backend,
        res,
        cache,
        elapsed,
        // Object.assign, not a spread: on Node 20 a spread followed by new keys costs about 2 µs.
        complete: (fields) =>
          finish.complete(Object.assign({}, fields, { backend: attempt.backend, replica: attempt.replica, cache, upstreamMs: elapsed() })),
        fail,
      }
      // Media types are case-insensitive (RFC 9110 §8.3.1).
      const isEventStream = String(res.headers['content-type'] ?? '')
        .toLowerCase()
        .startsWith('text/event-stream')
      if (res.status >= 200 && res.status < 300 && request.stream === true && isEventStream && res.body instanceof Readable) {
        return answerStream(c, exchange, res.body, deps, signal)
      }
      return answerWhole(c, exchange, deps)
    }

    // A failure to send is the exchange's (fail); a failure while answering has been through fail already.
    const sendAndAnswer = (affinityKey: HashKey | undefined) => send(affinityKey).then(answer, fail)
    return routesByAffinity(config, model) ? affinityKeyFor(request, images).then(sendAndAnswer) : sendAndAnswer(undefined)
  }
}
