import type { MiddlewareHandler } from 'hono'
import { afterNext } from '../lib/steps-in-order.js'
import { carryReplyRecord } from '../reply/reply.js'

/**
 * Outermost middleware: whatever answers, a route's c.json() included, carries the headers the
 * steps set (reply/reply.ts, carryReplyRecord), once the steps behind it have answered.
 */
export const carryReplyHeaders = (): MiddlewareHandler =>
  function carryReplyHeaders(c, next) {
    return afterNext(next(), () => carryReplyRecord(c))
  }
