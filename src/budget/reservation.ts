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
