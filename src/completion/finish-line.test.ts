import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { describe, expect, it, vi } from 'vitest'
import { settle } from '../../test/helpers/step-app.js'
import { gatewayError } from '../errors/gateway-error.js'
import { onError } from '../errors/respond.js'
import { createLogger } from '../lib/logger.js'
import type { Completion } from './completion.js'
import { FinishLine, finishLine, type FinishVariables } from './finish-line.js'

const COMPLETED: Completion = { outcome: 'completed', status: 200, cache: 'miss', backend: 'main' }
const ABORTED: Completion = { outcome: 'client_aborted', status: 200, cache: 'miss' }

/** Whether a promise has settled yet, without waiting for it. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  void promise.then(() => (settled = true))
  await settle(1)
  return settled
}

describe('FinishLine', () => {
  it('keeps the time it was opened and starts open, unfinished, with done pending', async () => {
    const line = new FinishLine(1_234)
    expect(line.startedAt).toBe(1_234)
    expect(line.isOpen).toBe(true)
    expect(line.isFinished).toBe(false)
    expect(await isSettled(line.done)).toBe(false)
  })

  it('resolves done with the completion and reports itself finished', async () => {
    const line = new FinishLine(0)
    line.complete(COMPLETED)
    expect(line.isFinished).toBe(true)
    expect(line.isOpen).toBe(false)
    expect(await line.done).toBe(COMPLETED)
  })

  it('completes once: later calls are ignored and done keeps the first completion', async () => {
    const line = new FinishLine(0)
    line.complete(ABORTED)
    line.complete(COMPLETED)
    line.complete({ outcome: 'rejected', status: 500, cache: 'none' })
    expect(await line.done).toBe(ABORTED)
  })

  it('tells every listener the same completion, listeners added after it included', async () => {
    const line = new FinishLine(0)
    const early = line.done
    line.complete(COMPLETED)
    expect(await early).toBe(COMPLETED)
    expect(await line.done).toBe(COMPLETED)
  })

  it('is no longer open once handed off, yet not finished until complete is called', async () => {
    const line = new FinishLine(0)
    line.handOff()
    expect(line.isOpen).toBe(false)
    expect(line.isFinished).toBe(false)
    expect(await isSettled(line.done)).toBe(false)
    line.complete(COMPLETED)
    expect(await line.done).toBe(COMPLETED)
  })
})

/**
 * The finishLine middleware ahead of `handler` on a throwaway app (a fixed clock at 5_000), with
 * the app's error handler; every line it opened is in `lines`, its `complete` calls counted.
 */
function lineApp(handler: (c: { get(key: 'finish'): FinishLine }) => Response | Promise<Response>) {
  const lines: FinishLine[] = []
  const completions: Completion[] = []
  const app = new Hono<{ Variables: FinishVariables }>()
  app.onError(onError(createLogger('silent')))
  app.post('/', finishLine({ clock: { now: () => 5_000 }, log: createLogger('silent') }), (c) => {
    const line = c.get('finish')
    lines.push(line)
    const complete = line.complete.bind(line)
    vi.spyOn(line, 'complete').mockImplementation((completion) => {
      completions.push(completion)
      complete(completion)
    })
    return handler(c)
  })
  return { send: () => app.request('/', { method: 'POST' }), lines, completions }
}

describe('finishLine middleware', () => {
  it('opens a line per request, at the clock time, and sets it on the context', async () => {
    const { send, lines } = lineApp(() => new Response('ok'))
    await send()
    await send()
    expect(lines).toHaveLength(2)
    expect(lines[0]).not.toBe(lines[1])
    expect(lines[0]?.startedAt).toBe(5_000)
  })

  it('completes as rejected, with the status and catalogue code the client got, when a later step throws', async () => {
    const { send, lines } = lineApp(() => {
      throw gatewayError('budget_exceeded', { message: 'Team budget used up.' })
    })
    const res = await send()
    expect(res.status).toBe(429)
    expect(await lines[0]?.done).toEqual({
      outcome: 'rejected',
      status: 429,
      cache: 'none',
      error: { code: 'budget_exceeded', message: 'Team budget used up.' },
    })
  })

  it('completes as rejected with status 500 and the code internal when a later step throws an unknown error', async () => {
    const { send, lines } = lineApp(() => {
      throw new TypeError('undefined is not a function')
    })
    const res = await send()
    expect(res.status).toBe(500)
    // The client was told `internal`; the completion (access log, metrics) should say the same.
    expect(await lines[0]?.done).toEqual({
      outcome: 'rejected',
      status: 500,
      cache: 'none',
      error: { code: 'internal', message: 'Internal error.' },
    })
  })

  it("completes a hono HTTPException as rejected with the status the client got (bodyLimit's 413)", async () => {
    const { send, lines } = lineApp(() => {
      throw new HTTPException(413)
    })
    expect((await send()).status).toBe(413)
    expect(await lines[0]?.done).toMatchObject({ outcome: 'rejected', status: 413, cache: 'none' })
  })

  it('completes as rejected when the steps answered without any producer completing the line', async () => {
    const { send, lines } = lineApp(() => new Response('early', { status: 403 }))
    await send()
    expect(await lines[0]?.done).toEqual({ outcome: 'rejected', status: 403, cache: 'none' })
  })

  it('leaves a completed line alone: the producer completion stands, complete called once', async () => {
    const { send, lines, completions } = lineApp((c) => {
      c.get('finish').complete(COMPLETED)
      return new Response('answer')
    })
    await send()
    expect(await lines[0]?.done).toBe(COMPLETED)
    expect(completions).toEqual([COMPLETED])
  })

  it('leaves a line completed by a producer that then threw (a backend error) as the producer told it', async () => {
    const upstreamError: Completion = {
      outcome: 'upstream_error',
      status: 502,
      cache: 'miss',
      error: { code: 'upstream_unreachable', message: 'x' },
    }
    const { send, lines, completions } = lineApp((c) => {
      c.get('finish').complete(upstreamError)
      throw gatewayError('upstream_unreachable')
    })
    expect((await send()).status).toBe(502)
    expect(await lines[0]?.done).toBe(upstreamError)
    expect(completions).toHaveLength(1)
  })

  it('leaves a handed-off line open after the handlers return, until the stream ends', async () => {
    let endStream!: () => void
    const { send, lines, completions } = lineApp((c) => {
      const finish = c.get('finish')
      finish.handOff()
      endStream = () => finish.complete(COMPLETED)
      return new Response('streaming...')
    })
    const res = await send()
    expect(res.status).toBe(200)
    expect(await isSettled(lines[0]?.done as Promise<Completion>)).toBe(false)
    expect(completions).toHaveLength(0)
    endStream()
    expect(await lines[0]?.done).toBe(COMPLETED)
    expect(completions).toHaveLength(1)
  })
})

describe('FinishLine.whenDone', () => {
  it('runs every listener once the line completes, and reports one that throws instead of leaving it unhandled', async () => {
    const reported: unknown[] = []
    const line = new FinishLine(0, (err) => reported.push(err))
    const heard: string[] = []
    line.whenDone(() => heard.push('first'))
    line.whenDone(() => {
      throw new Error('a listener failed')
    })
    line.whenDone(async () => Promise.reject(new Error('an async listener failed')))
    line.whenDone(() => heard.push('last'))
    line.complete({ outcome: 'completed', status: 200, cache: 'none' })
    await line.done
    await new Promise((resolve) => setImmediate(resolve))
    expect(heard).toEqual(['first', 'last'])
    expect(reported.map((err) => (err as Error).message).sort()).toEqual(['a listener failed', 'an async listener failed'])
  })

  it('tells listeners after complete() has returned, in the order they were added, each once', async () => {
    const line = new FinishLine(0)
    const heard: string[] = []
    line.whenDone(() => heard.push('a'))
    line.whenDone(() => heard.push('b'))
    line.complete(COMPLETED)
    line.complete(ABORTED)
    expect(heard).toEqual([])
    await Promise.resolve()
    expect(heard).toEqual(['a', 'b'])
    await settle(1)
    expect(heard).toEqual(['a', 'b'])
  })

  it('tells a listener added after the line completed, with that completion, later and not inside whenDone', async () => {
    const line = new FinishLine(0)
    line.complete(ABORTED)
    const heard: Completion[] = []
    line.whenDone((completion) => heard.push(completion))
    expect(heard).toEqual([])
    await Promise.resolve()
    expect(heard).toEqual([ABORTED])
  })

  it('reports a late listener that throws', async () => {
    const reported: unknown[] = []
    const line = new FinishLine(0, (err) => reported.push(err))
    line.complete(COMPLETED)
    line.whenDone(() => {
      throw new Error('late and broken')
    })
    await settle(1)
    expect(reported.map((err) => (err as Error).message)).toEqual(['late and broken'])
  })
})
