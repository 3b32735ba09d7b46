import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { png } from '../fixtures/images.js'
import { completionChunks, chatCompletion } from '../helpers/fake-upstream.js'
import { json, ScriptedUpstream, sse } from '../helpers/scripted-upstream.js'
import { buildTestApp, MODEL, TEST_KEY, testConfig } from '../helpers/test-app.js'

// Random mutations of valid requests, thrown at the whole app: whatever a client sends, the answer
// is the client's problem (4xx) or a success (2xx), never the gateway's failure (5xx), and the app
// keeps answering afterwards. The backend is scripted and always well-behaved, so a 5xx could only
// come from the gateway itself.

const PICTURE = `data:image/png;base64,${png(16, 12).toString('base64')}`
const VALID: ReadonlyArray<Record<string, unknown>> = [
  { model: MODEL, messages: [{ role: 'user', content: 'What is in this image?' }] },
  {
    model: MODEL,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe it.' },
          { type: 'image_url', image_url: { url: PICTURE, detail: 'low' } },
        ],
      },
    ],
    max_tokens: 50,
    temperature: 0,
  },
  {
    model: MODEL,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ],
    stream: true,
    stream_options: { include_usage: true },
  },
  { model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2, seed: 7, stop: ['\n'], top_p: 0.9, metadata: { a: 'b' } },
]

type Path = ReadonlyArray<string | number>

/** Every path in a JSON value, root included. */
function pathsOf(value: unknown, path: Path = []): Path[] {
  const here = [path]
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => pathsOf(v, [...path, i])))
  if (value !== null && typeof value === 'object') return here.concat(...Object.entries(value).map(([k, v]) => pathsOf(v, [...path, k])))
  return here
}

function mutate(
  value: unknown,
  path: Path,
  how: { kind: 'replace'; by: unknown } | { kind: 'delete' } | { kind: 'wrap'; depth: number },
): unknown {
  if (path.length === 0) {
    if (how.kind === 'replace') return how.by
    if (how.kind === 'wrap') return Array.from({ length: how.depth }).reduce<unknown>((inner) => [inner], value)
    return undefined
  }
  const [head, ...rest] = path
  if (Array.isArray(value)) {
    const copy: unknown[] = [...(value as unknown[])]
    if (rest.length === 0 && how.kind === 'delete') copy.splice(head as number, 1)
    else copy[head as number] = mutate(copy[head as number], rest, how)
    return copy
  }
  const record = (value !== null && typeof value === 'object' ? value : {}) as Record<string, unknown> // earlier mutations may have left a scalar
  const entries = Object.entries(record)
  if (rest.length === 0 && how.kind === 'delete') return Object.fromEntries(entries.filter(([key]) => key !== head))
  return Object.fromEntries([...entries.filter(([key]) => key !== head), [head as string, mutate(record[head as string], rest, how)]])
}

const odd = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom(
    -1,
    0,
    1e308,
    -1e308,
    2 ** 53,
    0.5,
    NaN,
    '',
    'image_url',
    'text',
    'user',
    'data:image/png;base64,====',
    'http://169.254.169.254/',
    'x'.repeat(5_000),
  ),
)
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), by: odd }),
  fc.record({ kind: fc.constant('delete' as const) }),
  fc.record({ kind: fc.constant('wrap' as const), depth: fc.integer({ min: 1, max: 80 }) }),
)

describe('random mutations of valid requests', () => {
  it('never get a 5xx, and the app keeps answering', { timeout: 120_000 }, async () => {
    const upstream = new ScriptedUpstream()
    // Whatever reaches it, the backend answers well: JSON for JSON requests, a stream for streams.
    upstream.answer('main', async (call) =>
      call.body['stream'] === true ? sse(completionChunks(['fine']))(call) : json(200, chatCompletion())(call),
    )
    const { app } = buildTestApp(testConfig('http://127.0.0.1:9/v1'), { upstreamClient: upstream })
    const send = (body: string) =>
      app.request('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
        body,
      })
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...VALID)
          .chain((base) =>
            fc.tuple(fc.constant(base), fc.array(fc.tuple(fc.constantFrom(...pathsOf(base)), mutation), { minLength: 1, maxLength: 3 })),
          ),
        async ([base, mutations]) => {
          const body = mutations.reduce<unknown>((value, [path, how]) => mutate(value, path, how), base)
          const text = (JSON.stringify(body) as string | undefined) ?? 'null' // undefined when a mutation deleted the root
          const res = await send(text)
          await res.text() // read it through: a stream's errors come at its end
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
          expect(res.status, text.slice(0, 500)).toBeLessThan(500)
        },
      ),
      { numRuns: 400, seed: 20261201 },
    )
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true) // the mutations did break requests
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true) // and some still passed
    expect((await send(JSON.stringify(VALID[0]))).status).toBe(200)
  })
})
