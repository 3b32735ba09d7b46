import { gatewayUsage, reportedUsage, type PromptCount, type SettledUsage, type UsageSource } from '../completion/usage.js'
import { countCompletionTokens } from './completion-tokens.js'

/**
 * A request's final token numbers: the backend's `usage` when it reported a usable one, else the
 * gateway's own count (the prompt counted at admission, the completion counted from its text).
 * `source` says where a reported usage came from originally, so a cache hit keeps the source of
 * the answer it replays.
 */
export function settleUsage(
  prompt: PromptCount,
  reported: unknown,
  completionText: () => string,
  source: UsageSource = 'upstream',
): SettledUsage {
  const fromBackend = reportedUsage(reported)
  if (fromBackend) return { usage: fromBackend, source, imageTokens: prompt.imageTokens }
  return { usage: gatewayUsage(prompt, countCompletionTokens(completionText())), source: 'gateway', imageTokens: prompt.imageTokens }
}
