import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { Clock } from '../lib/clock.js'
import { UpstreamHttpError } from '../errors/upstream-http-error.js'
import { clientError } from '../errors/respond.js'
import { afterNext } from '../lib/steps-in-order.js'
import type { Completion } from './completion.js'

/**
 * The one finish event of a chat request. The step that produces the answer (from the backend or
 * the cache) calls `complete` once, when the last byte is out or the client has left; every step
 * that must act on the end (store, settle, meter, log) listens with `whenDone`. Later calls are ignored,
 * so a stream that can end in several ways is still told once.
 */
export class FinishLine {
  private listeners: Array<(completion: Completion) => unknown> = []
  private completion: Completion | undefined
  private donePromise: Promise<Completion> | undefined
  private handedOff = false

  constructor(
    readonly startedAt: number,
    private readonly onListenerError: (err: unknown) => void = () => undefined,
  ) {}

  /** The completion, once there is one. */
  get done(): Promise<Completion> {
    return (this.donePromise ??= new Promise((resolve) => this.whenDone(resolve)))
  }

  /**
   * Runs `listener` once the request has finished, in a later microtask (never inside `complete`,
   * nor inside this call when it has finished already). A listener that throws or rejects is
   * reported, never left as an unhandled rejection: one step's failure must not take the process down.
   * Kept in a list rather than chained on a promise: a chat request has four or five listeners,
   * and each `then` and `catch` would be a promise and a job of its own.
   */
  whenDone(listener: (completion: Completion) => unknown): void {
    const { completion } = this
    if (completion === undefined) this.listeners.push(listener)
    else queueMicrotask(() => this.tell(listener, completion))
  }

  get isFinished(): boolean {
    return this.completion !== undefined
  }

  /** The answer is a stream: `complete` comes when it ends, after the handlers have returned. */
  handOff(): void {
    this.handedOff = true
  }

  /** Neither completed nor promised to be: the request ended in a step before any producer. */
  get isOpen(): boolean {
    return this.completion === undefined && !this.handedOff
  }

  complete(completion: Completion): void {
    if (this.completion !== undefined) return
    this.completion = completion
    const listeners = this.listeners
    this.listeners = []
    if (listeners.length > 0) queueMicrotask(() => listeners.forEach((listener) => this.tell(listener, completion)))
  }

  private tell(listener: (completion: Completion) => unknown, completion: Completion): void {
    try {
      const told = listener(completion)
      if (told instanceof Promise) told.catch(this.onListenerError)
    } catch (err) {
      this.onListenerError(err)
    }
  }
}

export type FinishVariables = { finish: FinishLine }

/**
 * Opens the finish line ahead of the chat steps, and closes it for requests that never reached a
 * producer: whatever a step threw (a bad request, a budget refusal) ends as `rejected`, with the
 * status and code the client got.
 */
export const finishLine = ({ clock, log }: { clock: Clock; log: Logger }): MiddlewareHandler<{ Variables: FinishVariables }> =>
  function openFinishLine(c, next) {
    const line = new FinishLine(clock.now(), (err) => log.error({ err }, 'a step failed acting on a finished request'))
    c.set('finish', line)
    return afterNext(next(), () => {
      if (!line.isOpen) return
      // The error as the client got it: an unknown one is rendered as `internal`, hono's own keep their
      // status, and anything a client that left caused is the client's.
      const error = c.error && !(c.error instanceof UpstreamHttpError) ? clientError(c.error, c) : undefined
      line.complete({
        outcome: c.req.raw.signal.aborted ? 'client_aborted' : 'rejected',
        status: c.res.status,
        cache: 'none',
        ...(error ? { error: { code: error.code, message: error.message } } : {}),
      })
    })
  }
