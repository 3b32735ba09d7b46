import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { gatewayError } from '../errors/gateway-error.js'
import { isEventStream } from '../upstream/stream-headers.js'
import { budgetCounters } from './counters.js'
import { setRateLimitHeaders } from './rate-limit-headers.js'
import { reservationFor } from './reservation.js'

/**
 * Step 7: reserve the most this request can cost against every budget of its key and team, atomically
 * (one store step checks and adds, across replicas), before the backend does any work; settle to
 * the actual usage when it is known, or give the reservation back when there is none (an error,
 * an uncharged answer). Peers charge after the fact, so concurrent requests overspend; this cannot.
 */
export const budget = ({
  config,
  store,
  clock,
  metrics,
  log,
}: Pick<Deps, 'config' | 'store' | 'clock' | 'metrics' | 'log'>): MiddlewareHandler<AppEnv> => {
  const policy = config.budget
  const prefix = config.cache.keyPrefix
  let storeFailing = false

  return async function enforceBudget(c, next) {
    const principal = c.get('principal')
    if (principal.budgets.length === 0) return next()
    const usage = c.get('usage')
    const now = clock.now()
    const { counters, resetsAt } = budgetCounters(prefix, principal, now)
    const amount = reservationFor(usage.prompt.total, c.get('chatRequest'), policy.defaultCompletionTokens)

    let result
    try {
      result = await store.reserve(counters, amount)
      storeFailing = false
    } catch (err) {
      if (!storeFailing)
        log.warn(
          { message: (err as Error).message },
          `budget store unavailable: requests ${policy.whenStoreFails === 'open' ? 'pass unchecked' : 'are refused'}`,
        )
      storeFailing = true
      metrics.budgetStoreFailures.inc({ outcome: policy.whenStoreFails === 'open' ? 'allowed' : 'refused' })
      if (policy.whenStoreFails === 'open') return next()
      throw gatewayError('budget_unavailable', { headers: { 'retry-after': '1' } })
    }
    if (!result.ok) {
      const window = principal.budgets[result.index]
      const resetsIn = Math.max(1, Math.ceil(((resetsAt[result.index] ?? now) - now) / 1000))
      metrics.budgetRejections.inc({
        key_alias: principal.keyAlias,
        team: principal.team,
        window: window?.window ?? 'unknown',
        scope: window?.scope ?? 'key',
      })
      const owner = window?.scope === 'team' ? `Team "${window.name}"` : `Key "${principal.keyAlias}"`
      throw gatewayError('budget_exceeded', {
        message:
          `${owner} has used ${result.used} of its ${window?.tokens} tokens this ${window?.window}; ` +
          `this request may need ${amount} (its prompt plus its max_tokens). The budget resets in ${resetsIn} s.`,
        // openai-node retries a 429 and honours retry-after only up to a minute; past that, say not to.
        headers: { 'retry-after': String(resetsIn), ...(resetsIn > 60 ? { 'x-should-retry': 'false' } : {}) },
      })
    }

    setRateLimitHeaders(c, counters, result.totals, resetsAt, now)
    const keys = counters.map((counter) => counter.key)
    let settled = false
    const settle = (actual: number) => {
      if (settled) return
      settled = true
      store.adjust(keys, actual - amount).catch((err: unknown) => log.warn({ message: (err as Error).message }, 'budget settlement failed'))
    }
    usage.onSettle((final) => settle(final.charged ? final.usage.total_tokens : 0))
    try {
      await next()
    } finally {
      // A stream settles when it ends; anything else that has not settled by now produced no usage.
      if (!isEventStream(c.res)) settle(0)
    }
  }
}
