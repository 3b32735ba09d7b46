// The second floor: what any hono + zod + undici service pays to forward a chat request it has
// looked at. It reads the JSON body, checks the message shape with a small zod schema, serialises
// it again and sends it to the backend through a keep-alive undici pool; the answer is relayed (a
// JSON answer read whole, an event stream piped through as it comes). No auth, cache, images,
// token counting, metrics or logs: the gateway's cost over this floor is those features.
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { Pool } from 'undici'
import { z } from 'zod'

const ChatRequest = z.looseObject({
  model: z.string(),
  messages: z.array(z.looseObject({ role: z.string(), content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]) })),
})

const upstream = new Pool(process.env.UPSTREAM_ORIGIN, { connections: 128 })
const app = new Hono()

app.post('/v1/chat/completions', async (c) => {
  let body
  try {
    body = ChatRequest.parse(await c.req.json())
  } catch {
    return c.json({ error: { message: 'invalid request', type: 'invalid_request_error', param: null, code: null } }, 400)
  }
  const answer = await upstream.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const type = answer.headers['content-type'] ?? 'application/json'
  if (String(type).startsWith('text/event-stream')) {
    return new Response(relay(answer.body), { status: answer.statusCode, headers: { 'content-type': type } })
  }
  return new Response(await answer.body.arrayBuffer(), { status: answer.statusCode, headers: { 'content-type': type } })
})
/**
 * The backend's stream as a web stream, chunk by chunk. (Readable.toWeb in Node 20 throws
 * "Controller is already closed" from an event handler when the client goes away mid-stream.)
 */
function relay(body) {
  const chunks = body[Symbol.asyncIterator]()
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await chunks.next()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel: () => void body.destroy(),
  })
}

app.onError((_err, c) => c.json({ error: { message: 'bad gateway', type: 'server_error', param: null, code: null } }, 502))

const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => process.send?.({ port: info.port }))
server.keepAliveTimeout = 60_000
// Forked by bench/run.mjs: when the run ends (or dies), so does this.
process.on('disconnect', () => process.exit(0))
