import type { Context } from 'hono'
import type { BudgetUnit } from '../config/schema.js'
import type { BudgetCounter } from '../store/store.js'
import { setHeader } from '../reply/reply.js'

/**
 * OpenAI's rate-limit headers for tokens, from the same atomic step that reserved (so they cannot
 * drift from the counters): the tightest window after this request's reservation. `remaining` is
 * conservative until the request settles to its actual usage. Money budgets are left out: these
 * headers speak of tokens (`GET /v1/usage` shows both).
 */
export function setRateLimitHeaders(
  c: Context,
  counters: ReadonlyArray<BudgetCounter & { unit?: BudgetUnit }>,
  totals: readonly number[],
  resetsAt: readonly number[],
  now: number,
): void {
  let tightest = -1
  let remaining = Number.POSITIVE_INFINITY
  counters.forEach((counter, i) => {
    if (counter.unit === 'usd') return
    const left = counter.limit - (totals[i] ?? 0)
    if (left < remaining) {
      remaining = left
      tightest = i
    }
  })
  const counter = counters[tightest]
  if (!counter) return
  setHeader(c, 'x-ratelimit-limit-tokens', String(counter.limit))
  setHeader(c, 'x-ratelimit-remaining-tokens', String(Math.max(0, remaining)))
  setHeader(c, 'x-ratelimit-reset-tokens', openAiDuration((resetsAt[tightest] ?? now) - now))
}

/** `1h2m3s`, `6m0s`, `42s`: the duration format of OpenAI's `x-ratelimit-reset-*` headers. */
export function openAiDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const sec = total % 60
  if (h > 0) return `${h}h${m}m${sec}s`
  if (m > 0) return `${m}m${sec}s`
  return `${sec}s`
}
