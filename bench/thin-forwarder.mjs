// The baseline: the thinnest forwarder possible. No auth, no parsing, no checks: the body goes to
// the backend as it came (keep-alive undici pool), the answer comes back as it went.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const upstream = new Pool(process.env.UPSTREAM_ORIGIN, { connections: 128 })
const server = createServer(async (req, res) => {
  try {
    const { statusCode, headers, body } = await upstream.request({
      method: req.method,
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: req,
    })
    res.writeHead(statusCode, { 'content-type': headers['content-type'] })
    for await (const chunk of body) res.write(chunk)
    res.end()
  } catch {
    res.writeHead(502).end()
  }
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }))
// Forked by bench/run.mjs: when the run ends (or dies), so does this.
process.on('disconnect', () => process.exit(0))
