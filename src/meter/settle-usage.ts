import { gatewayUsage, reportedUsage, type PromptCount, type SettledUsage, type UsageSource } from '../completion/usage.js'
import { COMPLETION_TEXT } from './completion-tokens.js'
import type { TokenCounter } from './token-counter.js'

/**
 * A request's final token numbers: the backend's `usage` when it reported a usable one, else the
 * gateway's own count (the prompt counted at admission, the completion counted from its text).
 * `source` says where a reported usage came from originally, so a cache hit keeps the source of
 * the answer it replays. The completion is counted by the TokenCounter: a long answer from a
 * backend that reports nothing never holds the event loop.
 */
export async function settleUsage(
  prompt: PromptCount,
  reported: unknown,
  completionText: () => string,
  counter: Pick<TokenCounter, 'count'>,
  source: UsageSource = 'upstream',
): Promise<SettledUsage> {
  const asReported = settledAsReported(prompt, reported, source)
  if (asReported) return asReported
  const completionTokens = await counter.count(completionText(), COMPLETION_TEXT)
  return { usage: gatewayUsage(prompt, completionTokens), source: 'gateway', imageTokens: prompt.imageTokens }
}

/**
 * The backend's usage as the request's, when it reported a usable one; else undefined (settleUsage
 * counts). At once, with no promise: most backends report usage, on every answer.
 */
export function settledAsReported(prompt: PromptCount, reported: unknown, source: UsageSource = 'upstream'): SettledUsage | undefined {
  const fromBackend = reportedUsage(reported)
  return fromBackend ? { usage: fromBackend, source, imageTokens: prompt.imageTokens } : undefined
}
