import type { Usage, UsageSource } from '../meter/usage.js'
import { isRecord } from '../lib/is-record.js'

export type CachedChoice = {
  index: number
  message: Record<string, unknown> & { role: string; content: string | null }
  finish_reason: string
  logprobs: unknown
}

/**
 * A complete answer as the cache keeps it, whichever way it arrived: a stream is assembled into
 * this shape, and either kind of request can be answered from it.
 */
export type CachedCompletion = {
  id: string
  created: number
  model: string
  system_fingerprint?: string
  choices: CachedChoice[]
  usage: Usage
  usageSource: UsageSource
  /** Epoch milliseconds, for the `Age` header. */
  storedAt: number
}

/**
 * A backend's chat completion → an entry, or undefined when it is not a complete answer (a
 * choice without a finish reason was cut off, and must never be replayed as if it were whole).
 */
export function toCachedCompletion(
  body: Record<string, unknown>,
  usage: Usage,
  usageSource: UsageSource,
  storedAt: number,
): CachedCompletion | undefined {
  const choices = body['choices']
  if (!Array.isArray(choices) || choices.length === 0) return undefined
  const kept: CachedChoice[] = []
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
    created: typeof body['created'] === 'number' ? body['created'] : Math.floor(storedAt / 1000),
    model: typeof body['model'] === 'string' ? body['model'] : '',
    ...(typeof body['system_fingerprint'] === 'string' ? { system_fingerprint: body['system_fingerprint'] } : {}),
    choices: kept,
    usage,
    usageSource,
    storedAt,
  }
}

export function parseCachedCompletion(text: string): CachedCompletion | undefined {
  try {
    const value: unknown = JSON.parse(text)
    const choices = isRecord(value) ? value['choices'] : undefined
    const wellFormed =
      Array.isArray(choices) &&
      choices.every((choice) => isRecord(choice) && isRecord(choice['message']) && typeof choice['finish_reason'] === 'string')
    if (isRecord(value) && wellFormed && isRecord(value['usage']) && typeof value['storedAt'] === 'number') {
      return value as CachedCompletion
    }
  } catch {
    // A damaged entry is a miss, never an error.
  }
  return undefined
}
