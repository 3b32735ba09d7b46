import type { ChatRequest } from '../validate/index.js'

/**
 * What a request may cost at most, known before it is forwarded: its prompt (counted exactly at
 * admission) plus the longest answer it allows, for each of its `n` choices. Settled to the
 * actual usage when the answer is in.
 */
export function reservationFor(promptTokens: number, request: ChatRequest, defaultCompletionTokens: number): number {
  const completion = request.max_completion_tokens ?? request.max_tokens ?? defaultCompletionTokens
  return promptTokens + completion * (request.n ?? 1)
}

/**
 * Where a reservation's answer part came from, in words, for the 429 message. `cap` is the
 * max_tokens the gateway set itself (see answer-cap.ts), when it did.
 */
export function reservedFor(request: ChatRequest, defaultCompletionTokens: number, cap?: number): string {
  const n = request.n ?? 1
  const times = n > 1 ? ` x n=${n}` : ''
  if (cap !== undefined)
    return `its prompt plus ${cap} for the answer${times}; the request sets no max_tokens, so the gateway sends max_tokens ${cap}: budget.defaultCompletionTokens, or what the context window leaves`
  if (request.max_completion_tokens != null) return `its prompt plus its max_completion_tokens${times}`
  if (request.max_tokens != null) return `its prompt plus its max_tokens${times}`
  return `its prompt plus ${defaultCompletionTokens} for the answer${times}, budget.defaultCompletionTokens: the request sets no max_tokens`
}
