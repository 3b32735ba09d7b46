import { Hono, type MiddlewareHandler } from 'hono'
import { loadConfig } from '../../src/config/load.js'
import type { Config, ConfigInput } from '../../src/config/schema.js'
import { onError } from '../../src/errors/respond.js'
import { createLogger } from '../../src/lib/logger.js'
import { reply } from '../../src/reply/reply.js'
import { ChatRequestSchema, type ChatRequest } from '../../src/validate/chat-request-schema.js'

export const STEP_MODEL = 'llava-1.5-7b'

/**
 * A small valid config for one step under test: one backend on a loopback port nothing listens
 * on (steps under test never dial it), one model. `overrides` replace whole sections.
 */
export function stepConfig(overrides: Partial<ConfigInput> = {}): Config {
  return loadConfig(
    {},
    {
      backends: { main: { baseUrl: 'http://127.0.0.1:9/v1' } },
      models: [{ id: STEP_MODEL, backend: 'main' }],
      ...overrides,
    },
  ).config
}

/** A chat request as the validate step leaves it on the context (parsed, so typed). */
export const parsedRequest = (body: Record<string, unknown>): ChatRequest => ChatRequestSchema.parse(body)

/** Whatever the step left on the context, seen by the handler after it. */
export type Reached<V> = Readonly<Partial<V>>

/**
 * One step on a throwaway app: a tiny middleware puts on the context what the steps before it
 * would have left (`preset`, called with each request, so a test may send in the body what to
 * preset), the step runs, and a terminal handler records the context it reached (`reached`) and
 * answers 200 `reached`. Thrown errors are rendered by the app's own error handler, so a refusal
 * is the OpenAI error body a client would get.
 */
export function stepApp<V extends object>(
  step: MiddlewareHandler<{ Variables: V }>,
  preset: (request: Request) => Partial<V> | Promise<Partial<V>> = () => ({}),
) {
  const reached: Array<Reached<V>> = []
  const app = new Hono<{ Variables: V }>()
  app.use(async function presetVariables(c, next) {
    const set = c.set as (key: string, value: unknown) => void
    for (const [key, value] of Object.entries(await preset(c.req.raw))) set.call(c, key, value)
    await next()
  })
  app.post('/', step, (c) => {
    reached.push({ ...c.var } as Reached<V>) // c.var's type is hono's generic mapping of V, not V itself
    // reply(), as every gateway answer is built: it carries the headers the step set.
    return reply(c, 'reached', 200)
  })
  app.onError(onError(createLogger('silent')))
  return { app, reached }
}

/** A POST of `body` as JSON, with extra headers. */
export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }
}

/** Lets pending promise callbacks and I/O callbacks run, `rounds` times; no time passes on any clock. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}
