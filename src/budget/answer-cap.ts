import type { MiddlewareHandler } from 'hono'
import type { AuthVariables } from '../auth/index.js'
import type { AppDeps } from '../deps.js'
import type { MeterVariables } from '../meter/index.js'
import type { ValidateVariables } from '../validate/index.js'

export type AnswerCapVariables = {
  /** The max_tokens the gateway set on a budgeted request that had none; undefined when it set none. */
  answerCap: number | undefined
}

type Reads = AuthVariables & ValidateVariables & MeterVariables

/**
 * Step 5b, before the cache (whose key the cap is part of): a request from a key or team with a
 * budget that sets neither max_tokens nor max_completion_tokens is sent with max_tokens set to
 * `budget.defaultCompletionTokens`, or to what the context window leaves after the prompt if that
 * is less. Its reservation reserves exactly that, so no answer can cost more than was reserved and
 * concurrent requests cannot push a budget past its limit. Without the cap the backend may write
 * until the window is full, and the budget would only learn of it when the request settles.
 */
export const capAnswer = ({ config }: Pick<AppDeps, 'config'>): MiddlewareHandler<{ Variables: Reads & AnswerCapVariables }> =>
  // Not async: it waits for nothing, and an async step costs every request a promise.
  function capBudgetedAnswer(c, next) {
    const request = c.get('chatRequest')
    if (c.get('principal').budgets.length > 0 && request.max_tokens == null && request.max_completion_tokens == null) {
      const room = c.get('model').contextWindow - c.get('prompt').total
      const cap = Math.max(1, Math.min(config.budget.defaultCompletionTokens, room))
      c.set('chatRequest', { ...request, max_tokens: cap })
      c.set('answerCap', cap)
    }
    return next()
  }
