import { once } from 'node:events'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { completionChunks, FakeUpstream } from '../helpers/fake-upstream.js'
import { listen } from '../helpers/gateway-server.js'
import { buildTestApp, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// A client that stops reading must slow the backend down, not make the gateway buffer the stream.

const CEILING = 256 * 1024 * 1024 // if the gateway buffered everything, the backend would write all of this
let upstream: FakeUpstream
let gateway: Awaited<ReturnType<typeof listen>>
beforeAll(async () => {
  upstream = await FakeUpstream.start()
  gateway = await listen(buildTestApp(testConfig(upstream.baseUrl)).app)
})
afterAll(async () => {
  await gateway.close()
  await upstream.close()
})

describe('backpressure', () => {
  it('stops reading from the backend while the client is not reading', async () => {
    // Each frame's bulk is outside `content`: when the client leaves, the gateway counts the tokens of
    // the content it relayed in one synchronous call, and for the megabytes relayed before the stall
    // that stops the event loop for most of a minute (a known bug: see test/app/long-streams.test.ts).
    const frame = `data: ${JSON.stringify({ ...(completionChunks(['x'])[1] as object), padding: 'x'.repeat(16 * 1024) })}\n\n`
    let written = 0
    // The backend writes as fast as it may, waiting for 'drain' whenever its socket is full. A drain
    // that does not come for STALL_MS means nobody downstream is reading: that is backpressure. If
    // the gateway read everything into memory instead, drains would keep coming until CEILING.
    const STALL_MS = 300
    const stalled = new Promise<number>((resolve, reject) => {
      upstream.handle(async (_call, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        while (written < CEILING) {
          written += frame.length
          if (res.write(frame)) continue
          const drained = await new Promise<boolean>((done) => {
            const timer = setTimeout(() => done(false), STALL_MS)
            res.once('drain', () => {
              clearTimeout(timer)
              done(true)
            })
          })
          if (!drained) {
            resolve(written)
            return
          }
        }
        reject(new Error(`the backend wrote ${CEILING} bytes without ever being held back`))
      })
    })
    const client = request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    })
    client.end(JSON.stringify({ ...userText('hi'), stream: true }))
    const [response] = (await once(client, 'response')) as [import('node:http').IncomingMessage]
    response.pause() // a client that reads nothing more
    const bytesBeforeStall = await stalled
    expect(bytesBeforeStall).toBeLessThan(64 * 1024 * 1024)
    client.destroy()
  })
})
