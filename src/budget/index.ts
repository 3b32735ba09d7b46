import { randomUUID } from 'node:crypto'
import type { Context, MiddlewareHandler, Next } from 'hono'
import type { AuthVariables, Principal } from '../auth/index.js'
import type { AnswerCapVariables } from './answer-cap.js'
import type { CacheVariables } from '../cache/index.js'
import type { Completion } from '../completion/completion.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { microsToUsd } from '../lib/usd.js'
import type { MeterVariables } from '../meter/index.js'
import { LATE_SETTLE_WINDOW_MS } from '../store/budget-ledger.js'
import type { LeaseRef } from '../store/store.js'
import type { ValidateVariables } from '../validate/index.js'
import { CHARGE_FLUSH_MS, ChargeBatcher } from './charge-batcher.js'
import { actualCost, worstCaseCost } from './cost.js'
import { amountsOf, budgetCounters, type Cost } from './counters.js'
import { LeaseKeeper } from './lease-keeper.js'
import { setRateLimitHeaders } from './rate-limit-headers.js'
import { budgetExceeded } from './refusal.js'
import { Settler } from './settler.js'

type Reads = FinishVariables & AuthVariables & ValidateVariables & MeterVariables & Partial<AnswerCapVariables> & CacheVariables

export type BudgetStep = MiddlewareHandler<{ Variables: Reads }> & {
  /** Renewing leases and settling: for shutdown (wait for settlements) and tests. */
  readonly leases: LeaseKeeper
  readonly settler: Settler
  readonly charges: ChargeBatcher
}

/**
 * Step 7: the one place that charges. Before the backend does any work, reserve the most this
 * request can cost against every budget of its key and team, in tokens and in dollars at once,
 * atomically (one store step checks and adds, across replicas), as a lease renewed while the
 * request runs; when the request has finished, settle the lease to what it actually cost. Peers
 * charge after the fact, so concurrent requests overspend; this cannot. Cache hits reserve nothing
 * (they are answered already) and are charged only if config says so.
 */
export const budget = (deps: Pick<AppDeps, 'config' | 'store' | 'clock' | 'metrics' | 'log' | 'labels'>): BudgetStep => {
  const { config, store, clock, metrics, log, labels } = deps
  const policy = config.budget
  const prefix = config.cache.keyPrefix
  const hitsCharged = config.cache.hitsCountTowardUsage
  const trouble = onceAnEpisode(log)
  const leases = new LeaseKeeper(store, policy.leaseMs, (err) => trouble.warn('budget leases could not be renewed', err))
  const settler = new Settler(store, {
    retryForMs: LATE_SETTLE_WINDOW_MS,
    now: () => clock.now(),
    onAbandon: (lease, err) => {
      metrics.budgetStoreFailures.inc({ outcome: 'settle_abandoned' })
      log.warn({ lease: lease.id, message: (err as Error).message }, 'budget settlement given up: its cost is not counted')
    },
  })

  /** Counts what a finished request cost in the charged-tokens and spend metrics, and returns it. */
  const charged = (principal: Principal, model: Reads['model'], completion: Completion): Cost => {
    const cost = actualCost(completion, hitsCharged, model.pricing)
    if (cost.tokens > 0) metrics.chargedTokens.inc(labels.who(principal, model), cost.tokens)
    if (cost.micros > 0) metrics.spendUsd.inc(labels.who(principal, model), microsToUsd(cost.micros))
    return cost
  }

  /** A cost without a lease (a charged cache hit): added past any limit, in batches (see ChargeBatcher). */
  // Batching saves Redis round trips; the embedded store has none to save, so it charges at once.
  const charges = new ChargeBatcher(
    store,
    (lost, err) => {
      metrics.budgetStoreFailures.inc({ outcome: 'charge_lost' }, lost.length)
      trouble.warn('budget charges for cache hits failed', err)
    },
    store.kind === 'memory' ? 0 : CHARGE_FLUSH_MS,
  )
  const chargeUnreserved = (principal: Principal, cost: Cost) => {
    if (principal.budgets.length === 0) return
    const { counters } = budgetCounters(prefix, principal, clock.now())
    charges.add(counters, amountsOf(counters, cost))
  }

  // Not async: a request with no budget, or answered from the cache, reserves nothing and waits for
  // nothing, and an async step costs every request a promise.
  const enforceBudget: MiddlewareHandler<{ Variables: Reads }> = (c, next) => {
    const principal = c.get('principal')
    const model = c.get('model')
    if (principal.budgets.length === 0 || c.get('cacheLookup').result === 'hit') {
      c.get('finish').whenDone((completion) => chargeUnreserved(principal, charged(principal, model, completion)))
      return next()
    }
    return reserveThenContinue(c, next, principal, model)
  }

  const reserveThenContinue = async (c: Context<{ Variables: Reads }>, next: Next, principal: Principal, model: Reads['model']) => {
    const finish = c.get('finish')
    const now = clock.now()
    const { counters, resetsAt } = budgetCounters(prefix, principal, now)
    const request = c.get('chatRequest')
    const worst = worstCaseCost(c.get('prompt'), request, policy.defaultCompletionTokens, model.pricing)
    const lease: LeaseRef = { id: randomUUID(), counterKeys: counters.map((counter) => counter.key) }
    let result
    try {
      result = await store.reserve(lease.id, counters, amountsOf(counters, worst), policy.leaseMs)
      trouble.recovered()
    } catch (err) {
      // The reservation may have run all the same (a reply lost to a timeout): give it back, by its id.
      settler.settle(lease, 0)
      trouble.warn(`budget store unavailable: requests ${policy.whenStoreFails === 'open' ? 'pass unchecked' : 'are refused'}`, err)
      metrics.budgetStoreFailures.inc({ outcome: policy.whenStoreFails === 'open' ? 'allowed' : 'refused' })
      if (policy.whenStoreFails === 'closed') throw gatewayError('budget_unavailable', { headers: { 'retry-after': '1' } })
      finish.whenDone((completion) => charged(principal, model, completion))
      return next()
    }
    if (!result.ok) {
      const refusing = principal.budgets[result.index]
      metrics.budgetRejections.inc({
        key_alias: principal.keyAlias,
        team: principal.team,
        window: refusing?.window ?? 'unknown',
        scope: refusing?.scope ?? 'key',
      })
      const resetsIn = Math.max(1, Math.ceil(((resetsAt[result.index] ?? now) - now) / 1000))
      const { defaultCompletionTokens } = policy
      const answerCap = c.get('answerCap')
      throw budgetExceeded({ principal, budget: refusing, used: result.used, worst, request, defaultCompletionTokens, answerCap, resetsIn })
    }

    leases.hold(lease)
    setRateLimitHeaders(c, counters, result.totals, resetsAt, now)
    finish.whenDone((completion) => {
      leases.drop(lease.id)
      settler.settle(lease, amountsOf(counters, charged(principal, model, completion)))
    })
    return next()
  }
  return Object.assign(enforceBudget, { leases, settler, charges })
}

/** Store trouble is logged once per episode (a warning, then nothing until the store answers again). */
function onceAnEpisode(log: AppDeps['log']) {
  let failing = false
  return {
    warn(message: string, err: unknown) {
      if (failing) return
      failing = true
      log.warn({ message: (err as Error).message }, message)
    },
    recovered() {
      failing = false
    },
  }
}
