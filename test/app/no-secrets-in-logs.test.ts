import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, OTHER_KEY, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'
import { capturedLog } from '../helpers/captured-log.js'

// No secret ever appears in a log line: not the client's key, not a wrong key, not the backend's
// credential, whatever happens to the request.

const UPSTREAM_TOKEN = 'upstream-token-do-not-log'
const WRONG_KEY = 'sk-wrong-key-do-not-log'

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

describe('logs', () => {
  it('carry no key, credential or token through success, refusal and failure', async () => {
    const { log, raw: lines } = capturedLog('trace')
    const config = { ...testConfig(upstream.baseUrl), backends: { main: { baseUrl: upstream.baseUrl, apiKey: UPSTREAM_TOKEN } } }
    const { app } = buildTestApp(config, { log })
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    await app.request('/v1/chat/completions', chatRequest(userText('hi'), OTHER_KEY))
    await app.request('/v1/chat/completions', chatRequest(userText('hi'), WRONG_KEY))
    upstream.handle((_call, res) => replyJson(res, 500, { error: { message: 'boom', type: 'server_error' } }))
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    upstream.handle((_call, res) => void res.socket?.destroy()) // the backend drops the connection
    await app.request('/v1/chat/completions', chatRequest(userText('hi')))
    const all = lines.join('')
    expect(lines.length).toBeGreaterThanOrEqual(5) // one access line per request at least
    for (const secret of [TEST_KEY, OTHER_KEY, WRONG_KEY, UPSTREAM_TOKEN]) expect(all).not.toContain(secret)
    expect(all).toContain('"key":"team-a-key"') // the alias from config is what identifies the caller
  })
})
