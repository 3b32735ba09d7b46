import type { Readable } from 'node:stream'
import { classifyMidResponseFailure } from '../backends/classify-failure.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { ChunkReader, END } from '../lib/chunk-reader.js'
import { dropStream, ignoreErrors } from '../lib/drop-stream.js'
import { frameBytes } from './frames.js'
import { SseLimitError } from './parse.js'
import { FrameSource } from './pull-stream.js'
import { RelayState, type RelayOptions } from './relay-state.js'

export type { RelayOptions, RelayOutcome, RelayResult } from './relay-state.js'

/**
 * Relays a backend's SSE body to the client event by event, pull-based (backpressure reaches the
 * backend). Strips the usage chunk the gateway asked for on its own account, or makes one when the
 * client asked and the backend sent none; turns backend error events into OpenAI error frames; and
 * reports a stream that breaks off as an error frame the openai SDK raises, never as a silent end.
 * A stream that passes `limits` gets an `upstream_bad_response` frame and the backend is dropped.
 */
export function relayStream(body: Readable, options: RelayOptions): FrameSource {
  const state = new RelayState(options)
  return new FrameSource(
    new RelayFrames(new ChunkReader(body), state),
    {
      stop: () => {
        state.cancelled = true
        dropStream(body)
      },
      end: () => {
        if (state.outcome === 'completed') readOutAfterDone(body)
        else dropStream(body)
        options.onEnd(state.result())
      },
    },
    options.signal,
  )
}

const FINISHED: IteratorResult<Uint8Array, void> = { value: undefined, done: true }

/**
 * The frames for the backend's body, one chunk of bytes per chunk read, until an event or the
 * body's end ends the stream. An iterator by hand, not an async generator: a model's stream is a
 * chunk per token, and each generator layer costs promises and turns per chunk. Only a wait for
 * data (and the usage the gateway counts at [DONE]) is awaited.
 */
class RelayFrames implements AsyncIterator<Uint8Array, void> {
  private finished = false

  constructor(
    private readonly reader: ChunkReader,
    private readonly state: RelayState,
  ) {}

  async next(): Promise<IteratorResult<Uint8Array, void>> {
    while (!this.finished) {
      let frames: string
      try {
        const handled = this.framesNow()
        if (handled === undefined) {
          await this.reader.readable()
          continue
        }
        frames = typeof handled === 'string' ? handled : await handled
      } catch (err) {
        if (this.state.cancelled) break
        frames = this.state.fail(relayFailure(err, this.state.backend))
      }
      if (this.state.outcome) this.finish()
      if (frames !== '') return { value: frameBytes(frames), done: false }
    }
    this.finish()
    return FINISHED
  }

  return(): Promise<IteratorResult<Uint8Array, void>> {
    this.finish()
    return Promise.resolve(FINISHED)
  }

  /** The frames of what the body has buffered ('' for none), or of its end; undefined when nothing has come yet. */
  private framesNow(): string | Promise<string> | undefined {
    const chunk = this.reader.read()
    if (chunk === null) return undefined
    if (chunk !== END) return this.state.handle(this.state.parser.push(chunk))
    const frames = this.state.handle(this.state.parser.end())
    return typeof frames === 'string' ? this.afterEnd(frames) : frames.then((text) => this.afterEnd(text))
  }

  /** The body has ended: without [DONE] (or an error frame) before, the client is told it was cut off. */
  private afterEnd(frames: string): string {
    if (this.state.outcome) return frames
    const message = `Backend "${this.state.backend}" ended the stream before [DONE].`
    return frames + this.state.fail(gatewayError('upstream_stream_interrupted', { message }))
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    // Not destroyed here, even at [DONE]: see readOutAfterDone.
    this.reader.close()
  }
}

function relayFailure(err: unknown, backend: string): GatewayError {
  if (err instanceof SseLimitError) {
    return gatewayError('upstream_bad_response', {
      message: `Backend "${backend}" sent a stream past the gateway's limit: ${err.message}.`,
    })
  }
  return classifyMidResponseFailure(err, backend)
}

/**
 * After [DONE] the backend has nothing more to say, and the end of its body is normally already
 * buffered: reading it out hands the connection back to the pool. Destroying a body that has not
 * emitted its end would build an abort error with a stack trace, about 5% of a stream's CPU. A
 * backend that sends more after [DONE] is cut off; one that keeps the body open is ended by the
 * backend's body timeout, whose error is expected here and needs no handler beyond this one.
 */
function readOutAfterDone(body: Readable): void {
  if (body.readableEnded || body.destroyed) return
  body.once('data', () => dropStream(body))
  ignoreErrors(body)
  body.resume()
}
