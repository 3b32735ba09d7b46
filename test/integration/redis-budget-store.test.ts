import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { counterKeys } from '../../src/store/redis-scripts.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { budgetStoreAmountsContract } from '../contracts/budget-store-amounts.js'
import { budgetStoreContract, type BudgetStoreUnderTest } from '../contracts/budget-store.js'
import { ready } from '../helpers/redis.js'

const stores: RedisStore[] = []
afterAll(async () => {
  for (const store of stores) {
    const keys = await store.client.keys('test-budget:*')
    if (keys.length > 0) await store.client.del(...keys)
    await store.close()
  }
})

// The in-memory ledger's contract, run against the Lua scripts on a real redis-server.
const redis = async (): Promise<BudgetStoreUnderTest> => {
  const store = new RedisStore({ url: inject('redisUrl'), commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log: createLogger('silent') })
  stores.push(store)
  await ready(store)
  const run = crypto.randomUUID()
  const shortLeaseMs = 200
  const redisNow = async () => {
    const [seconds, micros] = await store.client.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }
  return {
    store,
    // One hash tag per test, as the gateway uses one per team.
    key: (name) => `test-budget:{${run}}:${name}`,
    shortLeaseMs,
    // No event marks a lease's end: watch Redis's own clock pass it (leases taken before this call
    // end by its start + shortLeaseMs), polling for at most 2 s.
    letShortLeasesExpire: async () => {
      const expired = (await redisNow()) + shortLeaseMs
      for (let i = 0; i < 100; i++) {
        if ((await redisNow()) > expired) return
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      throw new Error(`leases did not expire within 2 s of ${shortLeaseMs} ms`)
    },
  }
}
budgetStoreContract('RedisStore', redis)
budgetStoreAmountsContract('RedisStore', redis)

describe('RedisStore: the late window in the Lua scripts', () => {
  it('forgets an expired lease once the late window has passed, even when no other lease expired since', async () => {
    const t = await redis()
    const client = (stores.at(-1) as RedisStore).client // the store redis() just made
    const day = { key: t.key('day'), limit: 100, ttlMs: 86_400_000 }
    await t.store.reserve('a', [day], 60, t.shortLeaseMs)
    await t.letShortLeasesExpire()
    expect(await t.store.read([day.key])).toEqual([{ settled: 0, reserved: 0 }]) // a expires: its late record starts
    // The read script itself, with a late window of 1 ms instead of 15 minutes: a's record is past it.
    await t.letShortLeasesExpire()
    await client.budgetRead(3, ...counterKeys(day.key), 1)
    await t.store.settle({ id: 'a', counterKeys: [day.key] }, 42)
    expect(await t.store.read([day.key])).toEqual([{ settled: 0, reserved: 0 }])
  })
})
