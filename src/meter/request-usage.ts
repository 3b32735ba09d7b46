import type { Metrics } from './metrics.js'
import type { Who } from './labels.js'
import type { PromptTokenCount } from './prompt-tokens.js'
import { countCompletionTokens } from './completion-tokens.js'
import { gatewayUsage, isUsageMismatch, reportedUsage, type Usage, type UsageSource } from './usage.js'

export type SettledUsage = { usage: Usage; source: UsageSource; imageTokens: number }

/** Called once per request with the final numbers: metrics now, budget settlement next. */
export type UsageListener = (settled: SettledUsage) => void

/**
 * One request's token account. The prompt count is known at admission (before the backend
 * answers); `settle` is called once with whatever the backend reported, and fills in what it did
 * not from the gateway's own counts. Later calls return the first result: a stream can end in
 * several ways, and it must be metered exactly once.
 */
export class RequestUsage {
  private settled: SettledUsage | undefined
  private readonly listeners: UsageListener[] = []

  constructor(
    readonly prompt: PromptTokenCount,
    private readonly who: Who,
    private readonly metrics: Metrics,
    private readonly cache: string = 'none',
  ) {}

  onSettle(listener: UsageListener): void {
    this.listeners.push(listener)
  }

  get isSettled(): boolean {
    return this.settled !== undefined
  }

  settle(reported: unknown, completionText: () => string): SettledUsage {
    if (this.settled) return this.settled
    const fromBackend = reportedUsage(reported)
    const settled: SettledUsage = fromBackend
      ? { usage: fromBackend, source: 'upstream', imageTokens: this.prompt.imageTokens }
      : { usage: gatewayUsage(this.prompt, countCompletionTokens(completionText())), source: 'gateway', imageTokens: this.prompt.imageTokens }
    this.settled = settled
    this.record(settled, fromBackend)
    for (const listener of this.listeners) listener(settled)
    return settled
  }

  private record(settled: SettledUsage, fromBackend: Usage | undefined): void {
    const labels = { ...this.who, source: settled.source, cache: this.cache }
    this.metrics.promptTokens.inc(labels, settled.usage.prompt_tokens)
    this.metrics.completionTokens.inc(labels, settled.usage.completion_tokens)
    this.metrics.imageTokens.inc({ ...this.who, cache: this.cache }, settled.imageTokens)
    if (fromBackend && isUsageMismatch(fromBackend.prompt_tokens, this.prompt.total)) {
      this.metrics.usageMismatches.inc({ model: this.who.model })
    }
  }
}
