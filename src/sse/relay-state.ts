import { toOpenAIError } from '../backends/error-body.js'
import { gatewayError, type OpenAIErrorBody } from '../errors/gateway-error.js'
import { isRecord } from '../lib/is-record.js'
import type { ClientSignal } from '../lib/client-signal.js'
import { withClientModel } from '../completion/client-model.js'
import { StreamAssembler } from './assemble.js'
import { dataFrame, DONE_FRAME, errorFrame } from './frames.js'
import { SseParser, type SseEvent, type SseLimits } from './parse.js'

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
 * What a relayed stream has said so far, and what each of its events becomes for the client: the
 * backend's chunks carry the client's model id, its error events become OpenAI error frames, its
 * usage is kept (or the gateway's own made at [DONE]), and its text and assembled answer are kept
 * for metering and the cache.
 */
export class RelayState {
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

  /**
   * The frames for these events, back to back ('' for none); sets `outcome` when one of them ends
   * the stream. A promise only at a [DONE] before which the gateway counts the usage itself.
   */
  handle(events: readonly SseEvent[]): string | Promise<string> {
    let frames = ''
    for (const event of events) {
      if (event.data === '[DONE]') return this.done(frames)
      frames += this.handleEvent(event)
      if (this.outcome) break
    }
    return frames
  }

  /** `frames` and [DONE], with the usage chunk the gateway counted between them when the client asked and the backend sent none. */
  private done(frames: string): string | Promise<string> {
    if (this.reported || !this.options.clientWantsUsage) {
      this.outcome = 'completed'
      return frames + DONE_FRAME
    }
    const last = this.lastChunk
    const envelope = last ? { id: last['id'], created: last['created'], model: this.options.model ?? last['model'] } : {}
    // Completed once the usage is counted: a client that leaves meanwhile did not get [DONE].
    return this.options.fillUsage(this.text.join('')).then((usage) => {
      this.outcome = 'completed'
      return frames + dataFrame(JSON.stringify({ ...envelope, object: 'chat.completion.chunk', choices: [], usage })) + DONE_FRAME
    })
  }

  /** The event's frame ('' for none). */
  private handleEvent(event: SseEvent): string {
    let parsed: unknown
    try {
      parsed = JSON.parse(event.data)
    } catch {
      return this.fail(
        gatewayError('upstream_bad_response', { message: `Backend "${this.backend}" sent a stream event that is not JSON.` }),
      )
    }
    if (event.event === 'error' || (isRecord(parsed) && parsed['error'] !== undefined)) {
      const body = toOpenAIError(500, parsed, this.backend)
      this.outcome = 'upstream_error'
      this.error = { ...body, code: body.error.code ?? 'upstream_error' }
      return errorFrame(body)
    }
    if (!isRecord(parsed)) return ''
    const choices = parsed['choices']
    const usage = parsed['usage']
    if (isRecord(usage)) {
      // Usage on a chunk of its own (choices empty), or on the last content chunk (some backends).
      this.reported = usage
      if (!Array.isArray(choices) || choices.length === 0) {
        return this.options.clientWantsUsage ? dataFrame(this.asClientModel(parsed, event.data)) : ''
      }
    }
    this.addChunk(parsed)
    return dataFrame(this.asClientModel(parsed, event.data))
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
