import { IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'hono'

/**
 * Under @hono/node-server, the Node request behind a hono context (`c.env.incoming`); undefined
 * where there is none (`app.request()` in tests).
 */
export function nodeRequestOf(c: Context): IncomingMessage | undefined {
  const incoming: unknown = (c.env as { incoming?: unknown } | undefined)?.incoming
  return incoming instanceof IncomingMessage ? incoming : undefined
}

/** The Node response behind a hono context (`c.env.outgoing`), as nodeRequestOf. */
export function nodeResponseOf(c: Context): ServerResponse | undefined {
  const outgoing: unknown = (c.env as { outgoing?: unknown } | undefined)?.outgoing
  return outgoing instanceof ServerResponse ? outgoing : undefined
}
