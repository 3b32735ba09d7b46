import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countPromptTokens } from '../../src/meter/prompt-tokens.js'
import { errorOf } from '../helpers/errors.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, MODEL, testConfig, userText } from '../helpers/test-app.js'

// models[].contextWindow: requests that can only fail at the backend are refused before they are
// paid for or forwarded, as OpenAI and vLLM refuse them (400 context_length_exceeded).

let upstream: FakeUpstream
beforeAll(async () => {
  upstream = await FakeUpstream.start()
})
afterAll(() => upstream.close())

const app = () => buildTestApp({ ...testConfig(upstream.baseUrl), models: [{ id: MODEL, backend: 'main', contextWindow: 4_096 }] }).app
const promptOf = (text: string) =>
  countPromptTokens([{ role: 'user', content: text }], { template: 'llava-1.5', imagePolicy: { policy: 'fixed', tokensPerImage: 576 } })
    .total

describe('the context window', () => {
  it('refuses a text too long to fit from a lower bound, without tokenizing it', async () => {
    upstream.calls.length = 0
    const text = 'word '.repeat(200_000) // 1 MB: at least 62,500 tokens whatever they are
    const error = await errorOf(await app().request('/v1/chat/completions', chatRequest(userText(text))), 400, 'context_length_exceeded')
    expect(error.param).toBe('messages')
    expect(error.message).toMatch(/maximum context length is 4096 tokens.*resulted in at least \d+ tokens/)
    expect(upstream.calls).toHaveLength(0)
  })

  it('refuses a prompt whose exact count passes the window, naming both numbers', async () => {
    upstream.calls.length = 0
    const text = 'the llama '.repeat(1_400) // 2,800 words: under the cheap bound, over the window once counted
    const exact = promptOf(text)
    expect(exact).toBeGreaterThan(4_096)
    const error = await errorOf(await app().request('/v1/chat/completions', chatRequest(userText(text))), 400, 'context_length_exceeded')
    expect(error.message).toContain(`resulted in ${exact} tokens`)
    expect(upstream.calls).toHaveLength(0)
  })

  it('refuses the same way a prompt whose count waits for the worker thread (a piece of over 256 characters)', async () => {
    upstream.calls.length = 0
    const long = 'x9'.repeat(150) // one 300-character piece: counted off the event loop, so the count is a promise
    const over = `${long} ${'the llama '.repeat(1_400)}`
    const error = await errorOf(await app().request('/v1/chat/completions', chatRequest(userText(over))), 400, 'context_length_exceeded')
    expect(error.message).toContain(`resulted in ${promptOf(over)} tokens`)
    expect(upstream.calls).toHaveLength(0)
    expect((await app().request('/v1/chat/completions', chatRequest(userText(`${long} fits`)))).status).toBe(200)
  })

  it('refuses a prompt that fits when its max_tokens does not, as vLLM does', async () => {
    upstream.calls.length = 0
    const prompt = promptOf('Describe the image.')
    const ask = (max_tokens: number) => chatRequest({ ...userText('Describe the image.'), max_tokens })
    const error = await errorOf(await app().request('/v1/chat/completions', ask(4_096 - prompt + 1)), 400, 'context_length_exceeded')
    expect(error.message).toContain(
      `you requested ${prompt} + ${4_096 - prompt + 1} tokens (${prompt} in the messages, ${4_096 - prompt + 1} in the completion)`,
    )
    expect(upstream.calls).toHaveLength(0)
    expect((await app().request('/v1/chat/completions', ask(4_096 - prompt))).status).toBe(200) // exactly full: fits
  })
})
