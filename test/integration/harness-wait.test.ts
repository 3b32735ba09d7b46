import { Redis } from 'ioredis'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { until, within } from '../helpers/wait.js'

// Proves test/helpers/wait.ts on a condition with no event to await: a Redis key's TTL running out.

const client = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 0 })
afterAll(() => client.quit())

describe('until', () => {
  it('resolves once the condition holds', async () => {
    const key = `harness:wait:${crypto.randomUUID()}`
    await client.set(key, 'lock', 'PX', 50)
    await until(async () => (await client.exists(key)) === 0, { timeoutMs: 2_000, what: 'the lock key to expire' })
    expect(await client.get(key)).toBeNull()
  })

  it('fails naming what never happened, and the last error if the check threw', async () => {
    await expect(until(() => false, { timeoutMs: 30, what: 'the sky to fall' })).rejects.toThrow(
      'timed out after 30 ms waiting for the sky to fall',
    )
    await expect(
      until(
        () => {
          throw new Error('ECONNREFUSED')
        },
        { timeoutMs: 30, what: 'a server to answer' },
      ),
    ).rejects.toThrow('waiting for a server to answer (last check threw: ECONNREFUSED)')
  })
})

describe('within', () => {
  it('passes a settled value through and names what did not settle in time', async () => {
    expect(await within(client.ping(), { timeoutMs: 1_000, what: 'PONG' })).toBe('PONG')
    await expect(within(new Promise(() => undefined), { timeoutMs: 20, what: 'an answer' })).rejects.toThrow(
      'timed out after 20 ms waiting for an answer',
    )
  })
})
