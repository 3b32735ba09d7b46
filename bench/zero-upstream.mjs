// The backend in benchmarks: answers every chat request at once, with a fixed completion or stream.
import { createServer } from 'node:http'

const completion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1700000000,
  model: 'llava-hf/llava-1.5-7b-hf',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'A llama stands in front of a volcano.' }, logprobs: null, finish_reason: 'stop' },
  ],
  usage: { prompt_tokens: 593, completion_tokens: 9, total_tokens: 602 },
})
const chunk = (delta, finish) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'llava-hf/llava-1.5-7b-hf', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
const words = ['A ', 'llama ', 'stands ', 'in ', 'front ', 'of ', 'a ', 'volcano.']
const stream =
  chunk({ role: 'assistant', content: '' }, null) +
  words.map((w) => chunk({ content: w }, null)).join('') +
  chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'llava-hf/llava-1.5-7b-hf', choices: [], usage: { prompt_tokens: 593, completion_tokens: 8, total_tokens: 601 } })}\n\n` +
  'data: [DONE]\n\n'

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const isStream = Buffer.concat(chunks).includes('"stream":true')
    if (isStream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(stream)
    } else {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(completion)
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }))
// Forked by bench/run.mjs: when the run ends (or dies), so does this.
process.on('disconnect', () => process.exit(0))
