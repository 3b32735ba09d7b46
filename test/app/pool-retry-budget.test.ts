import { describe, expect, it } from 'vitest'
import { counterSum } from '../helpers/metric-values.js'
import { replyJson } from '../helpers/fake-upstream.js'
import { inParallel, startFleet } from '../helpers/replica-fleet.js'
import { userText } from '../helpers/test-app.js'

// With every replica failing, retries on other replicas stay within the backend's retry budget
// (20% of its requests per 10 s by default, at least 3): a failing fleet gets at most that many
// extra requests from the gateway, not one per replica per request.

const REQUESTS = 200

async function failingFleet(retries: Record<string, unknown>) {
  const fleet = await startFleet({
    retries,
    // Kept in rotation however often they fail, so only the budget limits the retries.
    ejection: { consecutiveFailures: 1_000_000 },
  })
  // Every replica answers first (one that never has is ejected at its first failure), then fails.
  await inParallel(30, 3, (i) => fleet.ask(userText(`warm-up ${i}`)))
  expect(fleet.counts().every((n) => n > 0)).toBe(true)
  fleet.clock.advance(60_000) // the warm-up's requests out of the budget's window...
  fleet.clock.freeze() // ...and one window for the test: the budget does not refill while it runs
  const before = fleet.counts().reduce((a, b) => a + b, 0)
  for (const replica of fleet.replicas) replica.handle((_call, res) => replyJson(res, 503, { error: { message: 'overloaded' } }))
  const statuses = await inParallel(REQUESTS, 4, async (i) => (await fleet.ask(userText(`q${i}`))).status)
  const attempts = fleet.counts().reduce((a, b) => a + b, 0) - before
  return { ...fleet, statuses, extra: attempts - REQUESTS }
}

describe('the retry budget', () => {
  it('keeps extra attempts within 20% of the requests when every replica fails', async () => {
    const { statuses, extra, deps } = await failingFleet({})
    console.info(`[pool-retry-budget] ${REQUESTS} requests, every replica answering 503: ${extra} extra attempts`)
    expect(statuses.every((s) => s === 503)).toBe(true) // the last refusal is relayed, as before pools
    expect(extra).toBeGreaterThan(0) // retries were tried...
    expect(extra).toBeLessThanOrEqual(0.2 * REQUESTS + 3) // ...within the budget (ratio, plus the floor)
    expect(await counterSum(deps.metrics.backendRetries, { backend: 'main', result: 'sent' })).toBe(extra)
    expect(await counterSum(deps.metrics.backendRetries, { backend: 'main', result: 'denied' })).toBeGreaterThan(0)
  })

  it('is what holds them back: with a budget of every request, each one tries all three replicas', async () => {
    const { extra } = await failingFleet({ budgetRatio: 1, minPerWindow: 1_000 })
    expect(extra).toBe(2 * REQUESTS)
  })
})
