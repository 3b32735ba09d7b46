import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { buildTestApp, TEST_KEY, testConfig } from '../helpers/test-app.js'

// The listener's own limits, over real sockets: a client that dribbles its request is cut, and
// connections past the cap are closed at once.

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

async function gatewayWith(server: Record<string, number>) {
  const input = { ...testConfig(upstream.baseUrl), server }
  const { config } = loadConfig({}, input)
  return listen(buildTestApp(input).app, config.server)
}

function open(url: string): Promise<Socket> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Everything the server sends on `socket` until it closes it, and how long that took. */
function untilClosed(socket: Socket): Promise<{ text: string; ms: number }> {
  const started = performance.now()
  let text = ''
  socket.on('data', (data: Buffer) => (text += data.toString()))
  socket.on('error', () => undefined)
  return new Promise((resolve) => socket.once('close', () => resolve({ text, ms: performance.now() - started })))
}

describe('server limits over real sockets', () => {
  it('cuts a client that dribbles its body past server.requestTimeoutMs, with 408', async () => {
    const gateway = await gatewayWith({ requestTimeoutMs: 600, headersTimeoutMs: 500 })
    try {
      const socket = await open(gateway.url)
      const closed = untilClosed(socket)
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
      )
      // One byte every 100 ms, for ever: without a limit the socket stays (Node's default is 300 s).
      const dribble = setInterval(() => socket.writable && socket.write(' '), 100)
      const { text, ms } = await closed
      clearInterval(dribble)
      expect(text).toMatch(/^HTTP\/1\.1 408/)
      expect(ms).toBeLessThan(600 + 2_000) // the limit, plus at most the once-a-second check
      expect(upstream.calls).toHaveLength(0)
    } finally {
      await gateway.close()
    }
  })

  it('closes connections past server.maxConnections at once, and keeps serving the others', async () => {
    const gateway = await gatewayWith({ maxConnections: 2 })
    try {
      const kept = [await open(gateway.url), await open(gateway.url)]
      const extra = await open(gateway.url)
      const { text } = await untilClosed(extra)
      expect(text).toBe('')
      kept[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      const { text: answer } = await untilClosed(kept[0]!)
      expect(answer).toMatch(/^HTTP\/1\.1 200/)
      kept[1]!.destroy()
    } finally {
      await gateway.close()
    }
  })
})
