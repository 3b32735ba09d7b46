import type { Readable } from 'node:stream'
import { classifyMidResponseFailure } from '../backends/classify-failure.js'
import { toOpenAIError } from '../backends/error-body.js'
import { gatewayError, type OpenAIErrorBody } from '../errors/gateway-error.js'
import { dropStream, ignoreErrors } from '../lib/drop-stream.js'
import { isRecord } from '../lib/is-record.js'
import { StreamAssembler } from './assemble.js'
import { withClientModel } from '../completion/client-model.js'
import { dataFrame, DONE_FRAME, errorFrame, frameBytes } from './frames.js'
import { SseLimitError, SseParser, type SseEvent, type SseLimits } from './parse.js'
import { FrameSource } from './pull-stream.js'
import type { ClientSignal } from '../lib/client-signal.js'

export type RelayOutcome = 'completed' | 'upstream_error' | 'client_aborted'

/** How a relayed stream ended, told once: enough to meter it, settle its budget and cache it. */
export type RelayResult = Readonly<{
  outcome: RelayOutcome
  /** The backend's usage object, when it sent one. */
  reported: Record<string, unknown> | undefined
  /** The generated text so far, in arrival order: counted when the backend reported no usage. */
  text: string
  /**
   * The chunks assembled into the shape of a non-streamed completion (choices cut off keep a null
   * finish reason), when `assemble` asked for it.
   */
  assembled: Record<string, unknown> | undefined
  /** What the client was told went wrong (an error frame), when the outcome is upstream_error. */
  error: (OpenAIErrorBody & { code: string }) | undefined
}>

export type RelayOptions = {
  backend: string
  /** The client asked for `stream_options.include_usage`: forward (or make) the usage chunk. */
  clientWantsUsage: boolean
  /** Assemble the whole answer as it passes (the cache stores it); a request the cache bypasses needs none. */
  assemble: boolean
  /** The usage to put in the usage chunk when the client asked for one and the backend sent none. */
  fillUsage(text: string): Promise<Record<string, unknown>>
  limits: SseLimits
  /** The model id the client asked for: chunks naming the backend's own name for it are rewritten. */
  model?: string
  /** The client's request signal: when it aborts, the backend request is dropped at once. */
  signal?: ClientSignal
  /** The first content chunk is on its way to the client. */
  onFirstContent?(): void
  onEnd(result: RelayResult): void
}

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
    relayFrames(body, state),
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

async function* relayFrames(body: Readable, state: RelayState): AsyncGenerator<Uint8Array, void> {
  try {
    // Not destroyed when the loop returns at [DONE]: see readOutAfterDone.
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      const frames = await state.handle(state.parser.push(chunk))
      if (frames) yield frames
      if (state.outcome) return
    }
    const frames = await state.handle(state.parser.end())
    if (frames) yield frames
    if (state.outcome) return
    yield frameBytes(
      state.fail(gatewayError('upstream_stream_interrupted', { message: `Backend "${state.backend}" ended the stream before [DONE].` })),
    )
  } catch (err) {
    if (state.cancelled) return
    const error =
      err instanceof SseLimitError
        ? gatewayError('upstream_bad_response', {
            message: `Backend "${state.backend}" sent a stream past the gateway's limit: ${err.message}.`,
          })
        : classifyMidResponseFailure(err, state.backend)
    yield frameBytes(state.fail(error))
  }
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

class RelayState {
  readonly parser: SseParser
  readonly backend: string
  outcome: RelayOutcome | undefined
  cancelled = false
  private readonly assembler: StreamAssembler | undefined
  private readonly text: string[] = []
  private reported: Record<string, unknown> | undefined
  /** The last content chunk: the usage chunk the gateway makes carries its id and time. */
  private lastChunk: Record<string, unknown> | undefined
  private error: RelayResult['error']
  private sentContent = false

  constructor(private readonly options: RelayOptions) {
    this.parser = new SseParser(options.limits)
    this.backend = options.backend
    this.assembler = options.assemble ? new StreamAssembler() : undefined
  }

  result(): RelayResult {
    return {
      outcome: this.outcome ?? 'client_aborted',
      reported: this.reported,
      text: this.text.join(''),
      assembled: this.assembler?.completion(),
      error: this.error,
    }
  }

  /** The error frame that ends the stream. */
  fail(error: { code: string; toBody(): OpenAIErrorBody }): string {
    this.outcome = 'upstream_error'
    this.error = { ...error.toBody(), code: error.code }
    return errorFrame(error.toBody())
  }

  /** The frames for these events, as one chunk of bytes; sets `outcome` when one of them ends the stream. */
  async handle(events: readonly SseEvent[]): Promise<Uint8Array | undefined> {
    const frames: string[] = []
    for (const event of events) {
      if (event.data === '[DONE]') {
        frames.push(await this.done())
        break
      }
      this.handleEvent(event, frames)
      if (this.outcome) break
    }
    return frames.length > 0 ? frameBytes(frames.join('')) : undefined
  }

  /** [DONE], preceded by the usage chunk the gateway counted when the client asked and the backend sent none. */
  private async done(): Promise<string> {
    let frames = ''
    if (!this.reported && this.options.clientWantsUsage) {
      const usage = await this.options.fillUsage(this.text.join(''))
      const last = this.lastChunk
      const envelope = last ? { id: last['id'], created: last['created'], model: this.options.model ?? last['model'] } : {}
      frames = dataFrame(JSON.stringify({ ...envelope, object: 'chat.completion.chunk', choices: [], usage }))
    }
    this.outcome = 'completed'
    return frames + DONE_FRAME
  }

  private handleEvent(event: SseEvent, frames: string[]): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(event.data)
    } catch {
      frames.push(
        this.fail(gatewayError('upstream_bad_response', { message: `Backend "${this.backend}" sent a stream event that is not JSON.` })),
      )
      return
    }
    if (event.event === 'error' || (isRecord(parsed) && parsed['error'] !== undefined)) {
      const body = toOpenAIError(500, parsed, this.backend)
      this.outcome = 'upstream_error'
      this.error = { ...body, code: body.error.code ?? 'upstream_error' }
      frames.push(errorFrame(body))
      return
    }
    if (!isRecord(parsed)) return
    const choices = parsed['choices']
    const usage = parsed['usage']
    if (isRecord(usage)) {
      // Usage on a chunk of its own (choices empty), or on the last content chunk (some backends).
      this.reported = usage
      if (!Array.isArray(choices) || choices.length === 0) {
        if (this.options.clientWantsUsage) frames.push(dataFrame(this.asClientModel(parsed, event.data)))
        return
      }
    }
    this.addChunk(parsed)
    frames.push(dataFrame(this.asClientModel(parsed, event.data)))
  }

  /**
   * The event as the client sees it: with the model id it asked for, not the backend's name for
   * it. Rewritten only when the two differ; otherwise the backend's own text goes on untouched.
   */
  private asClientModel(parsed: Record<string, unknown>, data: string): string {
    const model = this.options.model
    const backendModel = parsed['model']
    if (model === undefined || typeof backendModel !== 'string' || backendModel === model) return data
    return withClientModel(data, parsed, backendModel, model)
  }

  private addChunk(chunk: Record<string, unknown>): void {
    this.lastChunk = chunk
    this.assembler?.add(chunk)
    const choices = chunk['choices']
    if (!Array.isArray(choices)) return
    for (const choice of choices) {
      const delta = isRecord(choice) ? choice['delta'] : undefined
      const content = isRecord(delta) ? delta['content'] : undefined
      if (typeof content !== 'string' || content === '') continue
      this.text.push(content)
      if (!this.sentContent) {
        this.sentContent = true
        this.options.onFirstContent?.()
      }
    }
  }
}
