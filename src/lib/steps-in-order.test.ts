import { Hono, type Context, type ErrorHandler, type MiddlewareHandler } from 'hono'
import type { BlankEnv } from 'hono/types'
import { describe, expect, it } from 'vitest'
import { afterNext, stepsInOrder } from './steps-in-order.js'

type Heard = string[]

/** What each kind of step does, writing what it saw into `heard`. */
const kinds = {
  /** Before and after next(), awaited. */
  around:
    (name: string, heard: Heard): MiddlewareHandler =>
    async (c, next) => {
      heard.push(`${name}>`)
      await next()
      heard.push(`<${name} ${c.res.status}${c.error ? ` error:${c.error.message}` : ''}`)
    },
  /** As `around`, from a plain function, with afterNext. */
  after:
    (name: string, heard: Heard): MiddlewareHandler =>
    (c, next) => {
      heard.push(`${name}>`)
      return afterNext(next(), () => heard.push(`<${name} ${c.res.status}${c.error ? ` error:${c.error.message}` : ''}`))
    },
  /** Passes on at once, from a plain function. */
  pass:
    (name: string, heard: Heard): MiddlewareHandler =>
    (_c, next) => {
      heard.push(name)
      return next()
    },
  /** Answers without calling next(). */
  answer:
    (name: string, heard: Heard): MiddlewareHandler =>
    async (c) => {
      heard.push(name)
      await Promise.resolve()
      return c.text(`answered by ${name}`, 201)
    },
  /** Returns a Response of its own after the steps behind it have answered: too late, it is ignored. */
  answerAgain:
    (name: string, heard: Heard): MiddlewareHandler =>
    async (_c, next) => {
      heard.push(name)
      await next()
      return new Response(`too late: ${name}`, { status: 299 })
    },
  throws:
    (name: string, heard: Heard): MiddlewareHandler =>
    () => {
      heard.push(name)
      throw new Error(`${name} threw`)
    },
  rejects:
    (name: string, heard: Heard): MiddlewareHandler =>
    async (_c, next) => {
      heard.push(name)
      await next()
      throw new Error(`${name} rejected`)
    },
  nextTwice:
    (name: string, heard: Heard): MiddlewareHandler =>
    async (_c, next) => {
      heard.push(name)
      await next()
      await next()
    },
}
type Kind = keyof typeof kinds

const renderError: ErrorHandler<BlankEnv> = (err, c) => c.json({ error: err.message }, 500)

/**
 * The same steps (and a route handler after them) as hono composes them, or with the chat steps
 * as one handler: what the client gets, and the order the steps saw things in.
 */
async function run(plan: Kind[], composed: 'hono' | 'stepsInOrder') {
  const heard: Heard = []
  const steps = plan.map((kind, i) => kinds[kind](`${kind}${i}`, heard))
  const route = (c: Context) => {
    heard.push('route')
    return c.text('from the route')
  }
  const app = new Hono()
  app.onError(renderError)
  if (composed === 'hono') {
    // Middleware and route in one chain, composed by hono: what the routes did before stepsInOrder.
    for (const step of steps) app.use('/', step)
    app.post('/', route)
  } else app.post('/', stepsInOrder(renderError, steps), route)
  const res = await app.request('/', { method: 'POST' })
  return { status: res.status, body: await res.text(), heard }
}

describe('stepsInOrder', () => {
  const plans: Kind[][] = [
    ['around', 'pass', 'around'],
    ['around', 'pass', 'answer', 'around'],
    ['around', 'throws', 'around'],
    ['around', 'pass', 'rejects'],
    ['rejects', 'around', 'answer'],
    ['around', 'answerAgain', 'answer'],
    ['around', 'answerAgain', 'pass'],
    ['around', 'nextTwice', 'pass'],
    ['pass', 'pass', 'pass'],
    ['after', 'pass', 'after', 'answer'],
    ['after', 'throws'],
    ['after', 'around', 'rejects'],
    [],
  ]
  it.each(plans.map((plan) => [plan.join(', ') || 'no steps', plan] as const))(
    'answers and runs the steps as hono compose does: %s',
    async (_name, plan) => {
      const byHono = await run(plan, 'hono')
      const ours = await run(plan, 'stepsInOrder')
      expect(ours).toEqual(byHono)
    },
  )

  it('runs steps around each other, renders an error where it was thrown, and lets the steps outside see it', async () => {
    expect(await run(['around', 'pass', 'throws', 'around'], 'stepsInOrder')).toEqual({
      status: 500,
      body: '{"error":"throws2 threw"}',
      heard: ['around0>', 'pass1', 'throws2', '<around0 500 error:throws2 threw'],
    })
  })

  it('lets an error that is not an Error go on up, as hono does', async () => {
    const app = new Hono()
    app.onError(renderError)
    app.post(
      '/',
      stepsInOrder(renderError, [
        () => {
          throw 'a string' // eslint-disable-line @typescript-eslint/only-throw-error -- the case under test
        },
      ]),
    )
    await expect(async () => app.request('/', { method: 'POST' })).rejects.toBe('a string')
  })

  it('costs no promise when every step returns without one: the handler returns what the last next() does', () => {
    const heard: Heard = []
    const handler = stepsInOrder(renderError, [kinds.pass('a', heard), kinds.pass('b', heard)])
    const outerNext = () => {
      heard.push('outer next')
      return undefined as unknown as Promise<void>
    }
    // All a step that only passes on touches of the context is nothing; the runner reads `finalized`.
    const context = { finalized: false } as unknown as Context<BlankEnv, string>
    const returned: unknown = handler(context, outerNext)
    expect(returned).toBeUndefined()
    expect(heard).toEqual(['a', 'b', 'outer next'])
  })

  it('adds no promise for steps that hand on what next() returned: the handler returns the very promise behind them', () => {
    const heard: Heard = []
    const handler = stepsInOrder(renderError, [kinds.pass('a', heard), kinds.pass('b', heard)])
    const behind = Promise.resolve()
    const context = { finalized: false } as unknown as Context<BlankEnv, string>
    expect(handler(context, () => behind)).toBe(behind)
  })
})

describe('afterNext', () => {
  it('runs after the promise next() returned has resolved, not before', async () => {
    const heard: Heard = []
    let answer!: () => void
    const passed = afterNext(new Promise<void>((resolve) => (answer = resolve)), () => heard.push('after'))
    await Promise.resolve()
    expect(heard).toEqual([])
    answer()
    await passed
    expect(heard).toEqual(['after'])
  })

  it('runs at once when next() returned no promise, and hands that on', () => {
    const heard: Heard = []
    const passed: unknown = afterNext(undefined as unknown as Promise<void>, () => heard.push('after'))
    expect(heard).toEqual(['after'])
    expect(passed).toBeUndefined()
  })

  it('does not run when next() failed, and the failure goes on', async () => {
    const heard: Heard = []
    const failure = new Error('unrendered')
    await expect(afterNext(Promise.reject(failure), () => heard.push('after'))).rejects.toBe(failure)
    expect(heard).toEqual([])
  })
})
