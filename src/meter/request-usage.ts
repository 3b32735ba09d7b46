import type { Metrics } from '../metrics/metrics.js'
import type { Who } from '../metrics/labels.js'
import type { PromptTokenCount } from './prompt-tokens.js'
import { countCompletionTokens } from './completion-tokens.js'
import { gatewayUsage, isUsageMismatch, reportedUsage, type Usage, type UsageSource } from './usage.js'

export type SettledUsage = {
  usage: Usage
  source: UsageSource
  imageTokens: number
  /** Whether these tokens count against the key (a cache hit does only if config says so). */
  charged: boolean
}

export type CacheLabel = 'hit' | 'miss' | 'bypass' | 'refresh' | 'none'

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

  private cache: CacheLabel = 'none'

  constructor(
    readonly prompt: PromptTokenCount,
    private readonly who: Who,
    private readonly metrics: Metrics,
    private readonly hitsCharged = false,
  ) {}

  /** What the response cache did for this request, for the metrics' `cache` label and charging. */
  markCache(result: CacheLabel): void {
    this.cache = result
  }

  /** The settled numbers, once settled. */
  get result(): SettledUsage | undefined {
    return this.settled
  }

  onSettle(listener: UsageListener): void {
    this.listeners.push(listener)
  }

  get isSettled(): boolean {
    return this.settled !== undefined
  }

  /**
   * `reported` is the backend's usage (or a cached entry's); `source` says where a reported
   * usage came from originally, so a cache hit keeps the source of the answer it replays.
   */
  settle(reported: unknown, completionText: () => string, source: UsageSource = 'upstream'): SettledUsage {
    if (this.settled) return this.settled
    const fromBackend = reportedUsage(reported)
    const charged = this.cache !== 'hit' || this.hitsCharged
    const imageTokens = this.prompt.imageTokens
    const settled: SettledUsage = fromBackend
      ? { usage: fromBackend, source, imageTokens, charged }
      : { usage: gatewayUsage(this.prompt, countCompletionTokens(completionText())), source: 'gateway', imageTokens, charged }
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
    if (settled.charged) this.metrics.chargedTokens.inc(this.who, settled.usage.total_tokens)
    if (
      fromBackend &&
      settled.source === 'upstream' &&
      this.cache !== 'hit' &&
      isUsageMismatch(fromBackend.prompt_tokens, this.prompt.total)
    ) {
      this.metrics.usageMismatches.inc({ model: this.who.model })
    }
  }
}
