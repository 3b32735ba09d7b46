import type { MiddlewareHandler } from 'hono'
import type { RequestIdVariables } from 'hono/request-id'
import { setHeader } from '../reply/reply.js'

/** Client-supplied request ids are kept only when short and plain, so logs cannot be forged through them. */
const SAFE_REQUEST_ID = /^[\w.:=-]{1,128}$/

/**
 * `x-request-id` on every response and `c.var.requestId` for the logs: the client's own id when it
 * sent a plain one, else a new UUID. (hono's requestId middleware sets it through c.header(), which
 * `reply` does not see.)
 */
export const requestId = (): MiddlewareHandler<{ Variables: RequestIdVariables }> =>
  // Not async: it has nothing to do after next(), and an async step costs every request a promise
  // and two more turns of the microtask queue as the chain unwinds.
  function assignRequestId(c, next) {
    const given = c.req.header('x-request-id')
    const id = given !== undefined && SAFE_REQUEST_ID.test(given) ? given : crypto.randomUUID()
    c.set('requestId', id)
    setHeader(c, 'x-request-id', id)
    return next()
  }
