// The backend in benchmarks: answers every chat request at once, with a fixed completion or stream.
// A non-streaming request carrying `bench_answer_bytes: N` (an unknown parameter, which the gateway
// forwards) gets an assistant content of N bytes instead, so answers of a chosen size can be cached.
import { createServer } from 'node:http'

const completionOf = (content, completionTokens) =>
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1700000000,
    model: 'llava-hf/llava-1.5-7b-hf',
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 593, completion_tokens: completionTokens, total_tokens: 593 + completionTokens },
  })
const completion = completionOf('A llama stands in front of a volcano.', 9)
const chunk = (delta, finish) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'llava-hf/llava-1.5-7b-hf', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
const words = ['A ', 'llama ', 'stands ', 'in ', 'front ', 'of ', 'a ', 'volcano.']
const stream =
  chunk({ role: 'assistant', content: '' }, null) +
  words.map((w) => chunk({ content: w }, null)).join('') +
  chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'llava-hf/llava-1.5-7b-hf', choices: [], usage: { prompt_tokens: 593, completion_tokens: 8, total_tokens: 601 } })}\n\n` +
  'data: [DONE]\n\n'

/** Completions padded to a content of `bytes` bytes (about 4 bytes a token), built once per size. */
const padded = new Map()
function paddedCompletion(bytes) {
  let body = padded.get(bytes)
  if (body === undefined) {
    const sentence = 'A llama stands in front of a volcano. '
    const content = sentence.repeat(Math.ceil(bytes / sentence.length)).slice(0, bytes)
    body = completionOf(content, Math.max(1, Math.round(bytes / 4)))
    padded.set(bytes, body)
  }
  return body
}

/** The answer size asked for, or undefined (only bodies that mention it are parsed). */
function answerBytes(body) {
  if (!body.includes('"bench_answer_bytes"')) return undefined
  const n = JSON.parse(body.toString()).bench_answer_bytes
  return Number.isInteger(n) && n > 0 && n <= 16 * 1024 * 1024 ? n : undefined
}

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    const isStream = body.includes('"stream":true')
    if (isStream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(stream)
    } else {
      const bytes = answerBytes(body)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(bytes === undefined ? completion : paddedCompletion(bytes))
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }))
// Forked by bench/run.mjs: when the run ends (or dies), so does this.
process.on('disconnect', () => process.exit(0))
