import type { Context, Env, ErrorHandler, MiddlewareHandler, Next } from 'hono'

/**
 * Steps run in order as one hono handler, with hono's own rules (its compose): a step that throws
 * or rejects is answered by `renderError` there, with `c.error` set, and the steps around it carry
 * on after their `next()` as if it had answered; a Response a step returns becomes `c.res` unless
 * one was set already. The difference is the cost. hono's compose wraps every step in an async
 * function and awaits it: two promises and two turns of the microtask queue per step per request,
 * whether or not the step has anything to wait for. Here a step that returns without a promise,
 * or hands on the one its `next()` returned (most steps do one or the other), costs none, and one
 * that returns a promise of its own costs one. Measured on a text request: 125 async resources
 * (async hooks on) fell to 71 with this and the steps made plain functions where they wait for nothing.
 */
export function stepsInOrder<E extends Env, Envs extends Env[]>(
  renderError: ErrorHandler<E>,
  // Each step with the variables it declares, as hono's own .use() and .post() take them: its
  // Context type is invariant in them, so one list type cannot hold the steps of a pipeline.
  listed: readonly [...{ [K in keyof Envs]: MiddlewareHandler<Envs[K]> }],
): MiddlewareHandler<E> {
  const steps = listed as unknown as ReadonlyArray<MiddlewareHandler<E>>
  return function runSteps(c, next) {
    let reached = -1
    const answered = (res: unknown): void => {
      if (res instanceof Response && !c.finalized) c.res = res
    }
    const failed = (err: unknown): Promise<void> | void => {
      // hono's rule too: what is not an Error is no error it can render, and goes on up.
      if (!(err instanceof Error)) throw err
      c.error = err
      const res = renderError(err, c as Context<E>)
      if (res instanceof Promise) return res.then((rendered) => void (c.res = rendered))
      c.res = res
    }
    const run = (i: number): Promise<void> | void => {
      if (i <= reached) throw new Error('next() called multiple times')
      reached = i
      const step = steps[i]
      if (step === undefined) return next()
      let out: unknown
      let passed: unknown
      try {
        out = step(c, (() => (passed = run(i + 1))) as Next)
      } catch (err) {
        return failed(err)
      }
      // A step that hands on what its next() returned (`return next()`) adds nothing to answer or
      // fail: the steps behind it have been taken care of, and a then of its own would be a promise.
      if (out === passed) return out as Promise<void> | void
      if (out instanceof Promise) return out.then(answered, failed)
      answered(out)
    }
    return run(0) as Promise<void>
  }
}

/**
 * `after` once the steps behind a step have answered (`passed` is what its next() returned), as
 * `await next(); after()` in an async step, but without the async function: that costs the step a
 * promise and the turns of its await on every request. Not run if they failed with something
 * hono could not render (what is not an Error), as after an await.
 */
export function afterNext(passed: Promise<void>, after: () => void): Promise<void> {
  // Under stepsInOrder, a next() whose steps had nothing to wait for returns no promise, whatever
  // hono's type for it says; it is handed on as it came.
  if (!((passed as unknown) instanceof Promise)) {
    after()
    return passed
  }
  return passed.then(after)
}
