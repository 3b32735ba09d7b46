import type { RequestUsage } from '../meter/request-usage.js'
import { isRecord } from '../lib/is-record.js'
import type { StreamObserver } from './relay-stream.js'

export type StreamMeterHooks = {
  /** The first content chunk went to the client. */
  firstToken(): void
  /** The stream is over, however it ended. */
  finished(): void
}

/**
 * Meters a relayed stream: collects the generated text, keeps the backend's usage chunk if one
 * comes, builds the usage chunk when the client asked for usage and the backend sent none, and
 * settles the request's usage exactly once: at [DONE], or with what was generated so far when the
 * client disconnects or the backend breaks off.
 */
export function streamMeter(usage: RequestUsage, hooks: StreamMeterHooks): StreamObserver {
  const text: string[] = []
  let reported: Record<string, unknown> | undefined
  let envelope: { id?: unknown; created?: unknown; model?: unknown } = {}
  let sentFirst = false
  const completionText = () => text.join('')

  return {
    chunk(chunk) {
      envelope = { id: chunk['id'], created: chunk['created'], model: chunk['model'] }
      const choices = chunk['choices']
      if (!Array.isArray(choices)) return
      for (const choice of choices) {
        const delta = isRecord(choice) ? choice['delta'] : undefined
        const content = isRecord(delta) ? delta['content'] : undefined
        if (typeof content === 'string' && content !== '') {
          text.push(content)
          if (!sentFirst) {
            sentFirst = true
            hooks.firstToken()
          }
        }
      }
    },
    usage(value) {
      reported = value
    },
    missingUsage() {
      const { usage: filled } = usage.settle(undefined, completionText)
      return { ...envelope, object: 'chat.completion.chunk', choices: [], usage: filled }
    },
    end() {
      usage.settle(reported, completionText)
      hooks.finished()
    },
  }
}
