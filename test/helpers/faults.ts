import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { windowAt } from '../../src/budget/windows.js'
import type { BudgetWindow } from '../../src/config/schema.js'
import { countPromptTokens } from '../../src/meter/prompt-tokens.js'
import { counterKeys } from '../../src/store/redis-scripts.js'
import type { CounterState } from '../../src/store/store.js'
import type { RedisStore } from '../../src/store/redis-store.js'
import type { FakeUpstream } from './fake-upstream.js'
import type { Replica } from './replica.js'
import { chatRequest, TEST_KEY } from './test-app.js'
import { until } from './wait.js'

// What the fault-injection suite (test/integration/faults-*.test.ts) shares: sending timed
// requests, waiting for a counter's leases to end, and recording the figures a closing note quotes.

const REPORT = fileURLToPath(new URL('../../reports/faults.jsonl', import.meta.url))

export type Figures = Readonly<Record<string, number | string | boolean>>

/**
 * One summary line on the console and one JSON line appended to reports/faults.jsonl (gitignored):
 * appends, not a rewrite, because test files run in parallel workers.
 */
export function recordFigures(test: string, figures: Figures): void {
  console.log(`[faults] ${test}: ${JSON.stringify(figures)}`)
  mkdirSync(dirname(REPORT), { recursive: true })
  appendFileSync(REPORT, `${JSON.stringify({ test, at: new Date().toISOString(), ...figures })}\n`)
}

/** The prompt tokens the gateway counts (and reserves) for a one-message text request on the default model. */
export function promptTokens(text: string): number {
  return countPromptTokens([{ role: 'user', content: text }], {
    template: 'llava-1.5',
    imagePolicy: { policy: 'fixed', tokensPerImage: 576 },
  }).total
}

/** The Redis key of a budget counter now, as src/budget/counters.ts names it. */
export function counterKey(
  prefix: string,
  owner: { team: string; scope: 'key' | 'team'; name: string },
  window: BudgetWindow,
  now = Date.now(),
): string {
  return `${prefix}budget:{${owner.team}}:${owner.scope}:${owner.name}:${window}:${windowAt(window, now).id}`
}

/** How one client request went, timed from the test's side (performance.now() milliseconds). */
export type Outcome = {
  status: number
  sentAt: number
  ms: number
  /** usage.total_tokens of a 200; 0 otherwise. */
  tokens: number
  /** The error code of a refusal. */
  code: string | undefined
  /** The gateway reserved for it: only then does it send rate-limit headers. */
  metered: boolean
  cache: string | null
}

/** POSTs a chat request to a gateway (a replica's URL or a listening in-process app) and reads the whole answer. */
export async function send(baseUrl: string, body: Record<string, unknown>, key: string = TEST_KEY): Promise<Outcome> {
  const sentAt = performance.now()
  const res = await fetch(`${baseUrl}/v1/chat/completions`, chatRequest(body, key))
  const parsed = (await res.json()) as { usage?: { total_tokens?: number }; error?: { code?: string } }
  return {
    status: res.status,
    sentAt,
    ms: performance.now() - sentAt,
    tokens: res.status === 200 ? (parsed.usage?.total_tokens ?? 0) : 0,
    code: parsed.error?.code,
    metered: res.headers.has('x-ratelimit-remaining-tokens'),
    cache: res.headers.get('x-cache'),
  }
}

/** Statuses → how many, e.g. `{ 200: 120, 429: 180 }`, for figures and for failure messages that show them all. */
export function tally(outcomes: readonly Outcome[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const { status } of outcomes) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

/**
 * Resolves once a gateway's store answers (GET /readyz is 200). A replica listens before its Redis
 * connection is ready, and without an offline queue the requests sent in between would fail.
 */
export async function untilReady(gateway: { url: string }, timeoutMs = 10_000): Promise<void> {
  await until(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, {
    timeoutMs,
    what: `${gateway.url}/readyz to answer 200`,
    intervalMs: 25,
  })
}

/**
 * The counter once every lease on it has ended: nothing reserved, no live lease, and no expired
 * lease whose settlement has yet to arrive (the `:late` set), except `late` of them that never
 * will (a dead replica's). Settlements land after the responses, retried by each replica's
 * settler, so this is polled; `read` also sweeps leases past their expiry.
 */
export async function untilQuiet(store: RedisStore, key: string, timeoutMs: number, { late: lateLeft = 0 } = {}): Promise<CounterState> {
  const [, leases, late] = counterKeys(key)
  let last: CounterState & { live: number; lateCount: number } = { settled: NaN, reserved: NaN, live: NaN, lateCount: NaN }
  try {
    await until(
      async () => {
        await store.read([key]) // sweeps leases past their expiry into `late`
        // One snapshot: a settlement landing between two separate reads would pair an old `settled`
        // with an already empty `late` set.
        const replies = await store.client.multi().hmget(key, 'settled', 'reserved').zcard(leases).zcard(late).exec()
        const [fields, live, lateCount] = (replies ?? []).map(([err, value]) => {
          if (err) throw err
          return value
        }) as [Array<string | null>, number, number]
        last = { settled: Number(fields[0] ?? 0), reserved: Number(fields[1] ?? 0), live, lateCount }
        return last.reserved === 0 && live === 0 && lateCount === lateLeft
      },
      { timeoutMs, what: `every lease on ${key} to be settled or expired`, intervalMs: 20 },
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last)}`)
  }
  return { settled: last.settled, reserved: last.reserved }
}

/** The middle value (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length / 2
  return sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The replicas' warnings about Redis (logged once an episode), with their messages. */
export const storeWarnings = (...replicas: Replica[]): string[] =>
  replicas.flatMap((replica) =>
    replica
      .entries()
      .filter((e) => e.level === 40 && /budget|redis/.test(e.msg ?? ''))
      .map((e) => `${replica.port}: ${e.msg ?? ''}: ${String(e['message'])}`),
  )

/**
 * Resolves once the backend has had `n` requests. Polled every few milliseconds and bounded, unlike
 * FakeUpstream.untilCalls, which spins on setImmediate (a core's worth of CPU taken from the
 * replicas on two shared cores) and goes on spinning after a `within` has given up on it.
 */
export function untilArrivals(upstream: FakeUpstream, n: number, options: { timeoutMs: number; what: string }): Promise<void> {
  return until(() => upstream.calls.length >= n, { ...options, intervalMs: 5 })
}

/** Resolves at `at` (performance.now() time): paces an open-loop load, whatever the answers do. */
export function at(time: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, time - performance.now())))
}

/** A promise with its resolve function, for one event a test hands from one task to another. */
export function signal(): { promise: Promise<void>; fire(): void } {
  let fire!: () => void
  const promise = new Promise<void>((resolve) => (fire = resolve))
  return { promise, fire }
}
