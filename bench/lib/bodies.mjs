// Request bodies of the scenarios. A body that must differ per request is a `next()` that splices a
// counter into prebuilt bytes (one copy, no JSON work in the load generator); others are fixed.
import { MODEL } from './processes.mjs'

const chat = (content, params = {}, model = MODEL) => ({ model, messages: [{ role: 'user', content }], ...params })

/**
 * The bytes around each counter marker, so each body costs one Buffer.concat to make. Every marker
 * in a body gets the same number.
 */
function spliced(bodyWithMarkers) {
  const parts = JSON.stringify(bodyWithMarkers)
    .split('@@N@@')
    .map((part) => Buffer.from(part))
  let n = 0
  const make = (number) => {
    const digits = Buffer.from(String(number))
    const pieces = [parts[0]]
    for (let i = 1; i < parts.length; i++) pieces.push(digits, parts[i])
    return Buffer.concat(pieces)
  }
  return { next: () => make(++n), sample: make(0) }
}

/**
 * `count` different bodies, prebuilt, sent in turn: the same requests come back every `count`, but
 * no two of the last `count` are alike (so concurrent ones never share an in-process cache flight).
 */
function cycled(bodyWithMarker, count) {
  const [head, tail] = JSON.stringify(bodyWithMarker).split('@@N@@')
  const all = Array.from({ length: count }, (_, i) => Buffer.from(`${head}${i}${tail}`))
  let n = 0
  return { next: () => all[n++ % count], sample: all[0], all }
}

/** A fixed body: every request sends the same bytes. */
const fixed = (body) => {
  const buf = Buffer.from(JSON.stringify(body))
  return { next: () => buf, sample: buf }
}

/** About 4 KB of plain English (about 900 tokens): a long prompt that still fits LLaVA's 4,096 positions. */
const LONG_PROMPT = (() => {
  const sentence =
    'The photograph shows a wide mountain valley in late afternoon light, with a river winding between pine forests, ' +
    'a wooden bridge near the bottom left corner, and a small village of stone houses on the far bank. '
  let text = 'Request @@N@@. Describe every detail of the following scene and say what season it is. '
  while (text.length < 4_000) text += sentence
  return text.slice(0, 4_000)
})()

/**
 * The same length of text in sentences no request has sent before: each carries the request's
 * number. Its words recur (as most words do), its sentences do not, so a memo of sentences finds
 * nothing here, where LONG_PROMPT's recurring sentence is remembered.
 */
const LONG_NEW_PROMPT = (() => {
  const clauses = [
    'The photograph @@N@@ shows a wide mountain valley in late afternoon light.',
    'A river winds between pine forests in picture @@N@@, under a pale sky.',
    'Near the bottom left corner of view @@N@@ stands a wooden bridge.',
    'A small village of stone houses, number @@N@@, sits on the far bank!',
    'Is it autumn or early spring in scene @@N@@?',
  ]
  let text = 'Request @@N@@. Describe every detail of the following scene and say what season it is. '
  for (let i = 0; text.length < 4_000; i++) text += `${clauses[i % clauses.length]} `
  return text.slice(0, 4_000)
})()

/** A PNG signature and an 800x600 IHDR, zero-padded to `bytes`: the gateway reads only the header. */
export function pngBytes(bytes) {
  const image = Buffer.alloc(bytes)
  Buffer.from('89504e470d0a1a0a0000000d4948445200000320000002580802000000', 'hex').copy(image)
  return image
}

const imageChat = (url, text, model = MODEL) =>
  chat(
    [
      { type: 'image_url', image_url: { url } },
      { type: 'text', text },
    ],
    { temperature: 0.7 },
    model,
  )
const dataUrl = (bytes) => `data:image/png;base64,${pngBytes(bytes).toString('base64')}`

/** A streamed request's parameters: the cache bypassed, the usage chunk asked for. */
const STREAMED = { temperature: 0.7, stream: true, stream_options: { include_usage: true } }

export const bodies = {
  /** Short text, unique per request; temperature 0.7 keeps it out of the cache. */
  text: () => spliced(chat('Describe the picture, request @@N@@.', { temperature: 0.7 })),
  /** A unique ~4 KB prompt: tokenizing and validating cost grow with it. */
  text4k: () => spliced(chat(LONG_PROMPT, { temperature: 0.7 })),
  /** A ~4 KB prompt of sentences never sent before (their words are not new). */
  text4kNew: () => spliced(chat(LONG_NEW_PROMPT, { temperature: 0.7 })),
  stream: () => spliced(chat('Describe the picture, request @@N@@.', STREAMED)),
  /**
   * A stream of `tokens` content events that the backend writes one at a time, as a model server
   * does (bench_stream_tokens, forwarded by the gateway as an unknown parameter): the relay's cost per event.
   */
  streamTokens: (tokens) => () => spliced(chat('Describe the picture, request @@N@@.', { ...STREAMED, bench_stream_tokens: tokens })),
  /** One image as a data URL: the gateway decodes, sniffs, hashes and forwards it. `model`: the gateway's id for it. */
  image:
    (bytes, model = MODEL) =>
    () =>
      spliced(imageChat(dataUrl(bytes), 'What is in this image? Request @@N@@.', model)),
  /** The same request every time, temperature 0: after the first, the gateway answers from its cache. */
  cacheHit: () => fixed(chat('Describe the picture.', { temperature: 0 })),
  /**
   * A unique prompt at temperature 0, so the cache admits and stores each answer; the backend pads
   * its answer to `answerBytes` (bench_answer_bytes, forwarded by the gateway as an unknown parameter).
   */
  cachedMiss: (answerBytes) => spliced(chat('Describe the picture, request @@N@@.', { temperature: 0, bench_answer_bytes: answerBytes })),
  /** `count` distinct temperature-0 prompts in turn, answers of `answerBytes`: once stored, every one is a hit. */
  cachedPool: (answerBytes, count) =>
    cycled(chat('Describe the picture, entry @@N@@.', { temperature: 0, bench_answer_bytes: answerBytes }), count),
  /** An image by URL: the gateway downloads, checks and forwards it as base64. */
  imageUrl: (url) => spliced(imageChat(url, 'What is in this image? Request @@N@@.')),
  /** An image of `bytes` on the backend (`{ port }`), by a URL unique per request. */
  imageByUrl: (bytes) => (backend) => bodies.imageUrl(`${backendImageUrl(backend, bytes)}?request=@@N@@`),
}

/** Where the backend (bench/zero-upstream.mjs, `{ port }`) serves a PNG-headed image of `bytes`. */
export const backendImageUrl = (backend, bytes) => `http://127.0.0.1:${backend.port}/images/${bytes}.png`

/**
 * The noisy neighbour's bodies, each at a default limit of the gateway: text filling the whole
 * body limit (refused once read, before it is joined: it cannot fit the context window), JSON nested 100,000 deep
 * (refused by the depth scan before parsing), and one image of exactly maxBytesPerImage as a data
 * URL (decoded, checked, hashed and forwarded).
 */
export function noisyBodies({ bodyLimitBytes, maxBytesPerImage }) {
  const bigText = textFilling(bodyLimitBytes)
  const depth = 100_000
  const nested = Buffer.from(`{"model":"${MODEL}","messages":${'['.repeat(depth)}${']'.repeat(depth)}}`)
  const bigImage = Buffer.from(JSON.stringify(imageChat(dataUrl(maxBytesPerImage), 'What is in this image?')))
  return [
    { name: `text body of ${mib(bigText.length)}`, body: bigText },
    { name: `JSON nested ${depth.toLocaleString('en')} deep (${kib(nested.length)})`, body: nested },
    { name: `${mib(maxBytesPerImage)} image as a data URL (${mib(bigImage.length)} body)`, body: bigImage },
  ]
}

const mib = (n) => `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) ? 1 : 0)} MiB`
const kib = (n) => `${Math.round(n / 1024)} KiB`

/** A chat request of exactly `bytes`, nearly all of it one text ('lorem ipsum ' repeated). */
export function textFilling(bytes) {
  const [head, tail] = JSON.stringify(chat('@@T@@', { temperature: 0.7 })).split('@@T@@')
  const filler = bytes - Buffer.byteLength(head) - Buffer.byteLength(tail)
  return Buffer.concat([Buffer.from(head), Buffer.alloc(filler, 'lorem ipsum '), Buffer.from(tail)])
}

/**
 * `buffer` sent chunked: undici gets an async iterable of `chunkBytes` slices and so sends no
 * Content-Length. The slices are views of the one buffer, so the sender holds no copies.
 */
export function chunked(buffer, chunkBytes = 64 * 1024) {
  async function* slices() {
    for (let at = 0; at < buffer.length; at += chunkBytes) yield buffer.subarray(at, at + chunkBytes)
  }
  return { next: slices, sample: buffer }
}
