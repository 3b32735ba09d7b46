import type { Completion } from '../completion/completion.js'
import { isUsageMismatch, type PromptCount } from '../completion/usage.js'
import type { Who } from '../metrics/labels.js'
import type { Metrics } from '../metrics/metrics.js'

/**
 * The token counters for one finished request: prompt, completion and image tokens by source and
 * cache result, and a mismatch when the backend counted the prompt differently from the gateway.
 * A request that produced no tokens (refused, or failed before the backend answered) adds nothing.
 */
export function recordTokens(metrics: Metrics, who: Who, prompt: PromptCount, completion: Completion): void {
  const settled = completion.usage
  if (!settled) return
  // Literals, not `{ ...who, cache }`: on Node 20 a spread followed by new keys costs about 2 µs.
  const { key_alias, team, model } = who
  const { cache } = completion
  const labels = { key_alias, team, model, source: settled.source, cache }
  metrics.promptTokens.inc(labels, settled.usage.prompt_tokens)
  metrics.completionTokens.inc(labels, settled.usage.completion_tokens)
  metrics.imageTokens.inc({ key_alias, team, model, cache }, settled.imageTokens)
  if (settled.source === 'upstream' && completion.cache !== 'hit' && isUsageMismatch(settled.usage.prompt_tokens, prompt.total)) {
    metrics.usageMismatches.inc({ model: who.model })
  }
}
