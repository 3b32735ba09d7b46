import { describe, expect, it } from 'vitest'
import { chatCompletion, replyJson } from '../helpers/fake-upstream.js'
import { inParallel, startFleet } from '../helpers/replica-fleet.js'
import { userText } from '../helpers/test-app.js'

// One model over three replicas: the default policy (least outstanding requests, power of two
// random choices) spreads requests, and keeps them off a replica that answers slowly.

const shares = (counts: readonly number[]) => {
  const total = counts.reduce((a, b) => a + b, 0)
  return counts.map((n) => n / total)
}

describe('balancing a pool of replicas', () => {
  it('gives no replica more than 40% of 3,000 requests', async () => {
    const { ask, counts } = await startFleet()
    const statuses = await inParallel(3_000, 24, async (i) => (await ask(userText(`q${i}`))).status)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(counts().reduce((a, b) => a + b, 0)).toBe(3_000)
    const figures = shares(counts())
    console.info(`[pool-balance] shares of 3,000 requests: ${figures.map((s) => (100 * s).toFixed(1) + '%').join(' ')}`)
    for (const share of figures) expect(share).toBeLessThanOrEqual(0.4)
  }, 60_000)

  it('sends a replica ten times slower than the others under 10% of the requests', async () => {
    const { ask, counts, replicas } = await startFleet()
    const answerAfter = (ms: number) => (_call: unknown, res: import('node:http').ServerResponse) => {
      // Latency is what is under test here: a timer stands in for a GPU's generation time.
      setTimeout(() => replyJson(res, 200, chatCompletion()), ms)
    }
    replicas[0]?.handle(answerAfter(80))
    replicas[1]?.handle(answerAfter(80))
    replicas[2]?.handle(answerAfter(800))
    const statuses = await inParallel(400, 10, async (i) => (await ask(userText(`q${i}`))).status)
    expect(statuses.every((s) => s === 200)).toBe(true)
    const figures = shares(counts())
    console.info(`[pool-balance] shares with gpu2 10x slower: ${figures.map((s) => (100 * s).toFixed(1) + '%').join(' ')}`)
    expect(figures[2]).toBeLessThan(0.1)
  }, 30_000)

  it('takes turns by weight with round_robin', async () => {
    const { ask, counts } = await startFleet((urls) => ({
      routing: 'round_robin',
      urls: urls.map((url, i) => ({ url, name: `gpu${i}`, weight: i === 0 ? 2 : 1 })),
    }))
    await inParallel(400, 1, (i) => ask(userText(`q${i}`)))
    expect(counts()).toEqual([200, 100, 100])
  })
})
