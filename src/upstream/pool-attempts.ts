import type { HashKey } from '../backends/balance/rendezvous.js'
import type { UpstreamClient, UpstreamResponse } from '../backends/client.js'
import type { FailureKind } from '../backends/pool-observer.js'
import type { Lease } from '../backends/lease.js'
import type { Replica, ReplicaPool } from '../backends/pool.js'
import type { RequestBody } from '../backends/request-body.js'
import { retryAfterMs } from '../backends/retry-after.js'
import { discardAnswerBody, whenAnswerBodyEnds } from '../backends/whole-answer.js'
import { GatewayError } from '../errors/gateway-error.js'
import { errorCode } from '../lib/network-errors.js'
import type { ClientSignal } from '../lib/client-signal.js'

/**
 * Answers that mean "this server cannot take the request now", before it did any work for it:
 * overloaded, rate limited, or a proxy in front of it that could not reach it. Another replica, or
 * the next backend, may. Anything else (a 4xx about the request, a server that accepted it and then
 * timed out) is the answer: trying elsewhere would repeat work or repeat the same refusal.
 */
const TRY_ELSEWHERE_STATUS = new Set([429, 502, 503, 504])

/**
 * How a backend's pool took a request. `answered`: an answer to relay as it is. `refused`: every
 * replica tried answered 429/502/503/504; the last such answer, unread. `failed`: every replica
 * tried was unreachable; the last failure. `unavailable`: no replica could be tried at all.
 */
export type PoolOutcome =
  | { kind: 'answered' | 'refused'; replica: string; res: UpstreamResponse }
  | { kind: 'failed'; error: GatewayError }
  | { kind: 'unavailable' }

export type PoolRequest = Readonly<{
  body: RequestBody
  headers: Readonly<Record<string, string>>
  signal: ClientSignal
  affinityKey: HashKey | undefined
  /** The answer is read whole, up to this many bytes, rather than streamed (UpstreamRequest). */
  wholeAnswerMaxBytes: number | undefined
  /** The request's last backend: with no healthy replica, try an unhealthy one rather than fail unasked. */
  lastResort: boolean
  now: () => number
}>

/**
 * Sends the request to the pool's chosen replica and, while it is unreachable or refuses, to
 * another one, never the same twice, within the backend's retry budget. Every attempt ends before
 * any byte of an answer has been relayed, so a retry can never repeat part of one. Errors that are
 * not the replica's fault to retry (a headers timeout: it accepted the request and is working on
 * it) are thrown as they are, as is anything once the client has left.
 */
export async function sendToPool(client: UpstreamClient, pool: ReplicaPool, req: PoolRequest): Promise<PoolOutcome> {
  const tried = new Set<Replica>()
  let outcome: PoolOutcome = { kind: 'unavailable' }
  for (;;) {
    const retry = tried.size > 0
    const replica = pool.pick({ affinityKey: req.affinityKey, exclude: tried, lastResort: req.lastResort && !retry })
    if (!replica) break
    if (!retry) pool.firstAttempt()
    else if (!pool.allowRetry(tried.size - 1)) break
    tried.add(replica)
    const next = await attempt(client, pool, replica, req)
    if (next.kind === 'answered') {
      drain(outcome)
      return next
    }
    // The newest refusal is kept to be returned as it is; a refusal says more than a failure to connect.
    if (next.kind === 'refused') drain(outcome)
    if (next.kind === 'refused' || outcome.kind !== 'refused') outcome = next
  }
  return outcome
}

/** One replica tried. A then, not an async function: every request makes at least one attempt. */
function attempt(client: UpstreamClient, pool: ReplicaPool, replica: Replica, req: PoolRequest): Promise<PoolOutcome> {
  const lease = pool.lease(replica)
  let sent: Promise<UpstreamResponse>
  try {
    sent = client.send(pool.backend, {
      replica: replica.name,
      path: '/chat/completions',
      method: 'POST',
      headers: req.headers,
      body: req.body,
      signal: req.signal,
      wholeAnswerMaxBytes: req.wholeAnswerMaxBytes,
    })
  } catch (err) {
    sent = Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
  return sent.then(
    (res) => answeredBy(res, lease, replica, req),
    (err: unknown) => notAnswered(err, lease, req),
  )
}

function answeredBy(res: UpstreamResponse, lease: Lease, replica: Replica, req: PoolRequest): PoolOutcome {
  // The replica carries the request until its answer's last byte is read (or the body is dropped).
  whenAnswerBodyEnds(res.body, () => lease.release())
  if (res.status >= 500) lease.failed('http_5xx', `HTTP ${res.status}`)
  else lease.succeeded()
  if (res.status === 429) lease.rateLimited(retryAfterMs(res.headers, req.now()))
  return { kind: TRY_ELSEWHERE_STATUS.has(res.status) ? 'refused' : 'answered', replica: replica.name, res }
}

function notAnswered(err: unknown, lease: Lease, req: PoolRequest): PoolOutcome {
  lease.release()
  if (req.signal.aborted) throw err // the client left: not the replica's doing
  if (!(err instanceof GatewayError)) {
    lease.failed('error', 'error')
    throw err
  }
  lease.failed(failureKind(err), errorCode(err.cause) ?? err.code)
  if (!retriable(err)) throw err
  return { kind: 'failed', error: err }
}

/** Unreachable (refused, reset, DNS), or a connect timeout; a headers timeout means the server is already working on it. */
function retriable(err: GatewayError): boolean {
  if (err.code === 'upstream_unreachable') return true
  return err.code === 'upstream_timeout' && errorCode(err.cause) === 'UND_ERR_CONNECT_TIMEOUT'
}

function failureKind(err: GatewayError): FailureKind {
  if (err.code === 'upstream_unreachable') return 'unreachable'
  if (err.code === 'upstream_timeout') return 'timeout'
  return 'error'
}

/** A refused answer given up on: read to its end, so its connection goes back to the pool. */
function drain(outcome: PoolOutcome): void {
  if (outcome.kind === 'refused') discardAnswerBody(outcome.res.body)
}
