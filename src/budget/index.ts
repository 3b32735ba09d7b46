import type { MiddlewareHandler } from 'hono'
import type { AuthVariables } from '../auth/index.js'
import type { Principal } from '../auth/index.js'
import type { CacheVariables } from '../cache/index.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import type { MeterVariables } from '../meter/index.js'
import type { ValidateVariables } from '../validate/index.js'
import { chargeFor } from './charge.js'
import { budgetCounters } from './counters.js'
import { setRateLimitHeaders } from './rate-limit-headers.js'
import { reservationFor } from './reservation.js'

type Reads = FinishVariables & AuthVariables & ValidateVariables & MeterVariables & CacheVariables

/**
 * Step 7: the one place that charges. Before the backend does any work, reserve the most this
 * request can cost against every budget of its key and team, atomically (one store step checks and
 * adds, across replicas); when the request has finished, settle to what it actually cost, or give
 * the reservation back. Peers charge after the fact, so concurrent requests overspend; this cannot.
 * Cache hits reserve nothing (they are answered already) and are charged only if config says so.
 */
export const budget = ({
  config,
  store,
  clock,
  metrics,
  log,
  labels,
}: Pick<AppDeps, 'config' | 'store' | 'clock' | 'metrics' | 'log' | 'labels'>): MiddlewareHandler<{ Variables: Reads }> => {
  const policy = config.budget
  const prefix = config.cache.keyPrefix
  const hitsCharged = config.cache.hitsCountTowardUsage
  let storeFailing = false

  const warnOnce = (message: string, err: unknown) => {
    if (storeFailing) return
    storeFailing = true
    log.warn({ message: (err as Error).message }, message)
  }

  /** Tokens used without a reservation (a charged cache hit): added past any limit, the next request sees them. */
  const chargeUnreserved = (principal: Principal, tokens: number) => {
    if (principal.budgets.length === 0 || tokens <= 0) return
    const { counters } = budgetCounters(prefix, principal, clock.now())
    store
      .reserve(
        counters.map((counter) => ({ ...counter, limit: Number.MAX_SAFE_INTEGER })),
        tokens,
      )
      .catch((err: unknown) => log.warn({ message: (err as Error).message }, 'budget charge for a cache hit failed'))
  }

  return async function enforceBudget(c, next) {
    const principal = c.get('principal')
    const who = labels.who(principal, c.get('model'))
    const finished = c.get('finish').done
    if (principal.budgets.length === 0 || c.get('cacheLookup').result === 'hit') {
      void finished.then((completion) => {
        const charge = chargeFor(completion, hitsCharged)
        if (charge > 0) metrics.chargedTokens.inc(who, charge)
        chargeUnreserved(principal, charge)
      })
      return next()
    }

    const now = clock.now()
    const { counters, resetsAt } = budgetCounters(prefix, principal, now)
    const amount = reservationFor(c.get('prompt').total, c.get('chatRequest'), policy.defaultCompletionTokens)
    let result
    try {
      result = await store.reserve(counters, amount)
      storeFailing = false
    } catch (err) {
      warnOnce(`budget store unavailable: requests ${policy.whenStoreFails === 'open' ? 'pass unchecked' : 'are refused'}`, err)
      metrics.budgetStoreFailures.inc({ outcome: policy.whenStoreFails === 'open' ? 'allowed' : 'refused' })
      if (policy.whenStoreFails === 'closed') throw gatewayError('budget_unavailable', { headers: { 'retry-after': '1' } })
      void finished.then((completion) => {
        const charge = chargeFor(completion, hitsCharged)
        if (charge > 0) metrics.chargedTokens.inc(who, charge)
      })
      return next()
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
    void finished.then((completion) => {
      const charge = chargeFor(completion, hitsCharged)
      if (charge > 0) metrics.chargedTokens.inc(who, charge)
      store.adjust(keys, charge - amount).catch((err: unknown) => log.warn({ message: (err as Error).message }, 'budget settlement failed'))
    })
    return next()
  }
}
