// The backend in benchmarks: answers every chat request at once, with a fixed completion or stream.
// A non-streaming request carrying `bench_answer_bytes: N` (an unknown parameter, which the gateway
// forwards) gets an assistant content of N bytes instead, so answers of a chosen size can be cached.
// A streaming request carrying `bench_stream_tokens: N` gets N content events written as a model
// server writes them, one per write, each in a turn of the event loop of its own (no waiting).
// It is the image host too: GET /images/<N>.png answers a PNG-headed image of N bytes (any query).
import { createServer } from 'node:http'
import { pngBytes } from './lib/bodies.mjs'

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
const usageChunk = (completionTokens) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'llava-hf/llava-1.5-7b-hf', choices: [], usage: { prompt_tokens: 593, completion_tokens: completionTokens, total_tokens: 593 + completionTokens } })}\n\n`

const words = ['A ', 'llama ', 'stands ', 'in ', 'front ', 'of ', 'a ', 'volcano.']
/** The events of a stream of `tokens` content events, built once per length. */
const tokenStreams = new Map()
function tokenStream(tokens) {
  let events = tokenStreams.get(tokens)
  if (events === undefined) {
    const content = Array.from({ length: tokens }, (_, i) => chunk({ content: words[i % words.length] }, null))
    events = [chunk({ role: 'assistant', content: '' }, null), ...content, chunk({}, 'stop'), usageChunk(tokens), 'data: [DONE]\n\n']
    tokenStreams.set(tokens, events)
  }
  return events
}

/** The default stream: all of it in one write. */
const stream = tokenStream(words.length).join('')

/** Each event in a write of its own, the next one a turn of the event loop later. */
function writeEvents(res, events) {
  let next = 0
  const write = () => {
    if (res.destroyed) return
    if (next === events.length - 1) return void res.end(events[next])
    res.write(events[next++])
    setImmediate(write)
  }
  write()
}

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

/** A bench_ parameter's positive integer, at most `max`, or undefined (only bodies that mention it are parsed). */
function benchParameter(body, name, max) {
  if (!body.includes(`"${name}"`)) return undefined
  const n = JSON.parse(body.toString())[name]
  return Number.isInteger(n) && n > 0 && n <= max ? n : undefined
}

/** Images by size, made once each. */
const images = new Map()
const IMAGE_PATH = /^\/images\/(\d{1,9})\.png(\?|$)/

function serveImage(res, bytes) {
  let image = images.get(bytes)
  if (image === undefined) images.set(bytes, (image = pngBytes(bytes)))
  res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length })
  res.end(image)
}

const server = createServer((req, res) => {
  const image = req.method === 'GET' ? IMAGE_PATH.exec(req.url ?? '') : null
  if (image) return serveImage(res, Number(image[1]))
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    const isStream = body.includes('"stream":true')
    if (isStream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const tokens = benchParameter(body, 'bench_stream_tokens', 100_000)
      if (tokens === undefined) res.end(stream)
      else writeEvents(res, tokenStream(tokens))
    } else {
      const bytes = benchParameter(body, 'bench_answer_bytes', 16 * 1024 * 1024)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(bytes === undefined ? completion : paddedCompletion(bytes))
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }))
// Forked by bench/run.mjs: when the run ends (or dies), so does this.
process.on('disconnect', () => process.exit(0))
