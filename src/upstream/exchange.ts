import type { Context } from 'hono'
import type { RequestIdVariables } from 'hono/request-id'
import type { AuthVariables } from '../auth/index.js'
import type { UpstreamResponse } from '../backends/client.js'
import type { CacheVariables } from '../cache/index.js'
import type { CacheResult, Completion } from '../completion/completion.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { GatewayError } from '../errors/gateway-error.js'
import type { UpstreamHttpError } from '../errors/upstream-http-error.js'
import type { ImagesVariables } from '../images/index.js'
import type { MeterVariables } from '../meter/index.js'
import type { NormalizeVariables } from '../normalize/index.js'
import type { ValidateVariables } from '../validate/index.js'

/** What the last step reads: everything the steps before it left. */
export type UpstreamReads = RequestIdVariables &
  FinishVariables &
  AuthVariables &
  ValidateVariables &
  NormalizeVariables &
  ImagesVariables &
  MeterVariables &
  CacheVariables

export type Ctx = Context<{ Variables: UpstreamReads }>

/** What the answer's producers share: the backend that answered, and how to end the request. */
export type Exchange = {
  backend: string
  res: UpstreamResponse
  cache: CacheResult
  /** Milliseconds since the request was sent. */
  elapsed: () => number
  /** Ends the request with `fields` (and the backend and replica, cache result and upstream time), once. */
  complete: (fields: Omit<Completion, 'backend' | 'replica' | 'cache' | 'upstreamMs'>) => void
  /** Ends the request with this backend failure and throws it (the error handler answers the client). */
  fail: (err: GatewayError | UpstreamHttpError) => never
}

/**
 * Whether anything reads the request's whole answer: the cache stores it unless it bypassed the
 * request. A bypassed request's answer is not worth assembling.
 */
export const cacheStoresAnswer = (exchange: Pick<Exchange, 'cache'>): boolean => exchange.cache !== 'bypass'
