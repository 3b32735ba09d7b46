import type { Principal, ScopedBudget } from '../auth/index.js'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { formatUsd } from '../lib/usd.js'
import type { ChatRequest } from '../validate/index.js'
import { budgetLimit, type Cost } from './counters.js'
import { reservedFor } from './reservation.js'

export type Refusal = Readonly<{
  principal: Principal
  /** The budget that would have been passed, and its counter's usage (tokens or micro-dollars). */
  budget: ScopedBudget | undefined
  used: number
  worst: Cost
  request: ChatRequest
  defaultCompletionTokens: number
  /** The max_tokens the gateway set on the request, when it set one. */
  answerCap?: number | undefined
  /** Seconds until the budget's window ends. */
  resetsIn: number
}>

/** The 429 for a request that would pass a budget: whose budget, how much is used, what this one needs, when it resets. */
export function budgetExceeded(refusal: Refusal): GatewayError {
  const { principal, budget, used, worst, request, defaultCompletionTokens, answerCap, resetsIn } = refusal
  const owner = budget?.scope === 'team' ? `Team "${budget.name}"` : `Key "${principal.keyAlias}"`
  const why = reservedFor(request, defaultCompletionTokens, answerCap)
  const window = budget?.window
  const message =
    budget && 'usd' in budget
      ? `${owner} has used ${formatUsd(used)} of its ${formatUsd(budgetLimit(budget))} this ${window}; ` +
        `this request may cost up to ${formatUsd(worst.micros)} (${why}, at the model's prices).`
      : `${owner} has used ${used} of its ${budget?.tokens} tokens this ${window}; this request may need ${worst.tokens} (${why}).`
  return gatewayError('budget_exceeded', {
    message: `${message} The budget resets in ${resetsIn} s.`,
    // openai-node retries a 429 and honours retry-after only up to a minute; past that, say not to.
    headers: { 'retry-after': String(resetsIn), ...(resetsIn > 60 ? { 'x-should-retry': 'false' } : {}) },
  })
}
