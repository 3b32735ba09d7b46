import type { Readable } from 'node:stream'
import { sseErrorFrame } from '../errors/respond.js'
import { gatewayError, type OpenAIErrorBody } from '../errors/gateway-error.js'
import { SseParser, type SseEvent } from '../lib/sse-parser.js'
import { classifyUpstreamFailure } from '../backends/classify-failure.js'
import { isRecord } from '../lib/is-record.js'
import { toOpenAIError } from '../backends/error-body.js'

export type StreamOutcome = 'completed' | 'upstream_error' | 'interrupted' | 'client_aborted'

/** Who listens to a relayed stream: metering counts it, the cache assembles it. */
export interface StreamObserver {
  /** Every content chunk (choices present), parsed. */
  chunk?(chunk: Record<string, unknown>): void
  /** The backend's usage chunk, whether or not the client sees it. */
  usage?(usage: Record<string, unknown>): void
  /** Called once at [DONE] when the backend sent no usage: the usage chunk to send instead, if any. */
  missingUsage?(): Record<string, unknown> | undefined
  /** The stream is over. On completion [DONE] is sent only after this resolves (the cache stores first). */
  end?(outcome: StreamOutcome): void | Promise<void>
}

export type RelayOptions = {
  backend: string
  /** The client asked for `stream_options.include_usage`: forward (or make) the usage chunk. */
  clientWantsUsage: boolean
  observer: StreamObserver
}

const encoder = new TextEncoder()
const DONE = encoder.encode('data: [DONE]\n\n')

/**
 * Relays a backend's SSE body to the client event by event. Pull-based, so a slow client slows
 * the upstream read (backpressure) instead of buffering. Strips the usage chunk the gateway asked
 * for on its own account, turns backend error events into OpenAI error frames, and reports a
 * stream that breaks off as an error frame the openai SDK raises, never as a silent end.
 */
export function relayStream(body: Readable, options: RelayOptions): ReadableStream<Uint8Array> {
  const { observer } = options
  const parser = new SseParser()
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let finished = false
  let sawUsage = false
  // Frames made from one backend chunk go out as one chunk: fewer writes and stream hops per event.
  let pending: Uint8Array[] = []
  const emit = (frame: Uint8Array) => {
    pending.push(frame)
  }
  const flush = (controller: ReadableStreamDefaultController<Uint8Array>): boolean => {
    if (pending.length === 0) return false
    controller.enqueue(pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending))
    pending = []
    return true
  }

  const finish = async (controller: ReadableStreamDefaultController<Uint8Array>, outcome: StreamOutcome, frame?: Uint8Array) => {
    if (finished) return
    finished = true
    if (outcome !== 'completed') body.destroy()
    try {
      await observer.end?.(outcome)
    } finally {
      if (frame) emit(frame)
      flush(controller)
      controller.close()
    }
  }
  const errorFrame = (error: OpenAIErrorBody) => encoder.encode(sseErrorFrame(error))

  /** Handles one event; returns an outcome when the stream is over. */
  const handle = (event: SseEvent): StreamOutcome | undefined => {
    if (event.data === '[DONE]') {
      if (!sawUsage && options.clientWantsUsage) {
        const filled = observer.missingUsage?.()
        if (filled) emit(dataFrame(JSON.stringify(filled)))
      } else if (!sawUsage) observer.missingUsage?.()
      return 'completed'
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(event.data)
    } catch {
      const error = gatewayError('upstream_bad_response', {
        message: `Backend "${options.backend}" sent a stream event that is not JSON.`,
      })
      emit(errorFrame(error.toBody()))
      return 'upstream_error'
    }
    if (!isRecord(parsed)) return undefined
    if (event.event === 'error' || parsed['error'] !== undefined) {
      emit(errorFrame(toOpenAIError(500, parsed, options.backend)))
      return 'upstream_error'
    }
    const choices = parsed['choices']
    const usage = parsed['usage']
    if (isRecord(usage) && (!Array.isArray(choices) || choices.length === 0)) {
      sawUsage = true
      observer.usage?.(usage)
      if (options.clientWantsUsage) emit(dataFrame(event.data))
      return undefined
    }
    if (isRecord(usage)) {
      // Some backends put usage on the last content chunk instead of a chunk of its own.
      sawUsage = true
      observer.usage?.(usage)
    }
    observer.chunk?.(parsed)
    emit(dataFrame(event.data))
    return undefined
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Loop until something was enqueued or the stream ended: a pull that enqueues nothing is
      // never called again, and the client would hang.
      while (!finished) {
        let next: IteratorResult<Buffer>
        try {
          next = await iterator.next()
        } catch (err) {
          if (finished) return
          return finish(controller, 'interrupted', errorFrame(classifyUpstreamFailure(err, options.backend).toBody()))
        }
        const events = next.done ? parser.end() : parser.push(next.value)
        for (const event of events) {
          const outcome = handle(event)
          if (outcome) return finish(controller, outcome, outcome === 'completed' ? DONE : undefined)
        }
        if (next.done) {
          const error = gatewayError('upstream_stream_interrupted', {
            message: `Backend "${options.backend}" ended the stream before [DONE].`,
          })
          return finish(controller, 'interrupted', errorFrame(error.toBody()))
        }
        if (flush(controller)) return
      }
    },
    cancel() {
      // The client went away: stop reading, which aborts the upstream request and frees the GPU.
      if (finished) return
      finished = true
      body.destroy()
      void observer.end?.('client_aborted')
    },
  })
}

function dataFrame(data: string): Uint8Array {
  return encoder.encode(`data: ${data}\n\n`)
}
