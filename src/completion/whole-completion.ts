import { isRecord } from '../lib/is-record.js'
import type { Usage } from './usage.js'

export type CompletionChoice = {
  index: number
  message: Record<string, unknown> & { role: string; content: string | null }
  finish_reason: string
  logprobs: unknown
}

/**
 * A complete answer, whichever way it arrived (a JSON body, or a stream assembled chunk by chunk):
 * every choice finished, usage settled. The cache stores it, and either kind of request can be
 * answered from it.
 */
export type WholeCompletion = {
  id: string
  created: number
  model: string
  system_fingerprint?: string
  choices: CompletionChoice[]
  usage: Usage
}

/**
 * A backend's chat completion → a whole completion, or undefined when it is not a complete answer
 * (a choice without a finish reason was cut off, and must never be replayed as if it were whole).
 */
export function toWholeCompletion(body: Record<string, unknown>, usage: Usage, now: number): WholeCompletion | undefined {
  const choices = body['choices']
  if (!Array.isArray(choices) || choices.length === 0) return undefined
  const kept: CompletionChoice[] = []
  for (const [i, choice] of choices.entries()) {
    if (!isRecord(choice) || !isRecord(choice['message'])) return undefined
    const finish = choice['finish_reason']
    if (typeof finish !== 'string' || finish === '') return undefined
    const message = choice['message']
    const content = message['content']
    kept.push({
      index: typeof choice['index'] === 'number' ? choice['index'] : i,
      message: {
        ...message,
        role: typeof message['role'] === 'string' ? message['role'] : 'assistant',
        content: typeof content === 'string' ? content : null,
      },
      finish_reason: finish,
      logprobs: choice['logprobs'] ?? null,
    })
  }
  return {
    id: typeof body['id'] === 'string' ? body['id'] : 'chatcmpl-cached',
    created: typeof body['created'] === 'number' ? body['created'] : Math.floor(now / 1000),
    model: typeof body['model'] === 'string' ? body['model'] : '',
    ...(typeof body['system_fingerprint'] === 'string' ? { system_fingerprint: body['system_fingerprint'] } : {}),
    choices: kept,
    usage,
  }
}

/** A whole completion as the non-streamed chat completion body a client gets. */
export function toChatCompletionBody(whole: WholeCompletion): Record<string, unknown> {
  return {
    id: whole.id,
    object: 'chat.completion',
    created: whole.created,
    model: whole.model,
    ...(whole.system_fingerprint ? { system_fingerprint: whole.system_fingerprint } : {}),
    choices: whole.choices,
    usage: whole.usage,
  }
}

/** Whether a parsed value has the shape of a whole completion (a cache entry read back, say). */
export function isWholeCompletion(value: unknown): value is WholeCompletion {
  if (!isRecord(value) || !isRecord(value['usage'])) return false
  const choices = value['choices']
  return (
    Array.isArray(choices) &&
    choices.every((choice) => isRecord(choice) && isRecord(choice['message']) && typeof choice['finish_reason'] === 'string')
  )
}
