import type { Server, ServerOptions } from 'node:http'
import type { Config } from '../config/schema.js'

type Limits = Pick<Config['server'], 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections'>

/**
 * The listener's own limits, so a slow or greedy client cannot hold the gateway's sockets: time to
 * send headers, time to send the whole request (a body dribbled in is cut with 408), idle
 * keep-alive time. Node checks the first two on a timer (every 30 s by default), which would let a
 * dribbler outstay its limit by that much: the check runs at least every second here.
 */
export function serverOptions(limits: Limits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs, limits.requestTimeoutMs),
  }
}

/** Connections open at once: past it the server closes new ones at once. */
export function limitConnections(server: Server, limits: Limits): void {
  server.maxConnections = limits.maxConnections
}
