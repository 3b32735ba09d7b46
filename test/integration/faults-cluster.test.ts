import { Redis } from 'ioredis'
import { beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/lib/logger.js'
import { counterKeys } from '../../src/store/redis-scripts.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import {
  counterKey,
  promptTokens,
  recordFigures,
  send,
  signal,
  storeWarnings,
  tally,
  untilArrivals,
  untilQuiet,
  untilReady,
} from '../helpers/faults.js'
import { ready } from '../helpers/redis.js'
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Issue 9, fault 5: the shared state on a Redis Cluster of three masters. Two replicas share the
// cache (one's miss is the other's hit; identical misses on both reach the backend once) and the
// budgets (exactly as many requests as fit, across both), because every multi-key step keeps its
// keys in one slot: a request's budget counters all carry its team as their hash tag.

const PREFIX = 'llava-gateway:' // the default cache.keyPrefix
const TEXT = 'What is in the picture?'
const PROMPT = promptTokens(TEXT)
const MAX_TOKENS = 60
const RESERVATION = PROMPT + MAX_TOKENS
const BURST = 30
const FIT = 10
const LOCK_TTL_MS = 1_000
const usage = (completion: number) => ({ prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion })

// A key with its own day budget and its team's month budget: two counters for one request.
const TEAM = 'fit-team'
const FIT_KEY = { alias: 'fit', team: TEAM, secret: 'sk-faults-fit', budgets: [{ window: 'day' as const, tokens: FIT * RESERVATION }] }
const KEY_COUNTER = counterKey(PREFIX, { team: TEAM, scope: 'key', name: FIT_KEY.alias }, 'day')
const TEAM_COUNTER = counterKey(PREFIX, { team: TEAM, scope: 'team', name: TEAM }, 'month')

let cluster: RedisCluster
let upstream: FakeUpstream
let store: RedisStore
let nodes: Redis[]
let a: Replica
let b: Replica

beforeAll(async () => {
  ;[cluster, upstream] = await Promise.all([startRedisCluster({ masters: 3 }), FakeUpstream.start()])
  closeAfterFile(upstream)
  const log = createLogger('silent')
  store = closeAfterFile(new RedisStore({ url: '', clusterNodes: cluster.nodes, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log }))
  nodes = cluster.nodes.map((url) => new Redis(url).on('error', () => undefined)) // the cluster stops first at the end
  closeAfterFile({ close: async () => nodes.forEach((node) => node.disconnect()) })
  const config = testConfig(upstream.baseUrl, {
    // A wide command timeout, as in budget.test.ts and cache.test.ts: this test is about sharing
    // state through a cluster; spurious 503s at the product's 50 ms are faults-budget-replicas.test.ts's.
    redis: { clusterNodes: [...cluster.nodes], commandTimeoutMs: 1_000 },
    keys: [...(testConfig(upstream.baseUrl).keys ?? []), FIT_KEY],
    teams: [{ name: TEAM, budgets: [{ window: 'month', tokens: 1_000_000_000 }] }],
    cache: { lockTtlMs: LOCK_TTL_MS },
  })
  const started = await Promise.all([0, 1].map(() => startReplica({ config })))
  a = started[0]!
  b = started[1]!
  await Promise.all([ready(store), untilReady(a), untilReady(b)])
}, 30_000)

/** Identical deterministic requests (temperature 0) share one cache key. */
const ask = (text: string) => ({ ...userText(text), temperature: 0 })
/** GETs run by the whole cluster so far: the cache's reads and a waiting replica's polls. */
const getsSoFar = async () => {
  const infos = await Promise.all(nodes.map((node) => node.info('commandstats')))
  return infos.reduce((sum, info) => sum + Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0), 0)
}

describe('two replicas on a Redis Cluster', () => {
  it('share the cache: a miss on one is a hit on the other, identical concurrent misses reach the backend once', async () => {
    upstream.calls.length = 0
    upstream.handle((_call, res) => replyJson(res, 200, chatCompletion({ content: 'One llama.', usage: usage(3) })))
    const miss = await send(a.url, ask('How many llamas?'))
    const hit = await send(b.url, ask('How many llamas?'))
    expect([miss.status, miss.cache, hit.status, hit.cache]).toEqual([200, 'MISS', 200, 'HIT'])
    expect(upstream.calls).toHaveLength(1)

    // Both replicas miss at once; whichever leads holds its backend call until the other is seen
    // polling for the answer (its GETs in the cluster's command stats), so they truly overlap.
    upstream.calls.length = 0
    const answer = signal()
    upstream.handle(async (_call, res) => {
      await answer.promise
      replyJson(res, 200, chatCompletion({ content: 'Two llamas.', usage: usage(3) }))
    })
    const both = [send(a.url, ask('How many llamas now?')), send(b.url, ask('How many llamas now?'))]
    await untilArrivals(upstream, 1, { timeoutMs: 5_000, what: 'the leader at the backend' })
    const gets = await getsSoFar()
    await until(async () => (await getsSoFar()) >= gets + 2, { timeoutMs: 5_000, what: 'the other replica polling the lock' })
    answer.fire()
    const [first, second] = await Promise.all(both)
    recordFigures('5 cluster cache', {
      missThenHit: `${miss.cache}/${hit.cache}`,
      concurrentMissesBackendCalls: upstream.calls.length,
      concurrentCaches: `${first!.cache}/${second!.cache}`,
      waiterMs: Math.round(Math.max(first!.ms, second!.ms)),
    })
    expect([first!.status, second!.status]).toEqual([200, 200])
    expect([first!.cache, second!.cache].sort()).toEqual(['HIT', 'MISS'])
    expect(upstream.calls).toHaveLength(1)
  })

  it('share budgets: exactly as many concurrent requests as fit, across both replicas; one request’s counters in one slot', async () => {
    upstream.calls.length = 0
    const decided = signal()
    upstream.handle(async (_call, res) => {
      await decided.promise
      replyJson(res, 200, chatCompletion({ usage: usage(MAX_TOKENS) }))
    })
    let refusedSoFar = 0
    const body = { ...userText(TEXT), max_tokens: MAX_TOKENS }
    const pending = Array.from({ length: BURST }, async (_, i) => {
      const outcome = await send((i % 2 === 0 ? a : b).url, body, FIT_KEY.secret)
      if (outcome.status !== 200) refusedSoFar++
      return outcome
    })
    await until(() => refusedSoFar + upstream.calls.length >= BURST, { timeoutMs: 15_000, what: 'every request refused or at the backend' })
    decided.fire()
    const outcomes = await Promise.all(pending)
    const [keyCounter, teamCounter] = await Promise.all([untilQuiet(store, KEY_COUNTER, 10_000), untilQuiet(store, TEAM_COUNTER, 10_000)])

    // The six keys one request's reservation touches (hash, leases, late per counter): one slot, one node.
    const keys = [...counterKeys(KEY_COUNTER), ...counterKeys(TEAM_COUNTER)]
    const slots = await Promise.all(keys.map((key) => nodes[0]!.cluster('KEYSLOT', key)))
    const budgetKeysPerNode = await Promise.all(nodes.map((node) => node.keys(`${PREFIX}budget:*`)))

    const counts = tally(outcomes)
    recordFigures('5 cluster budget', {
      requests: BURST,
      budgetFits: FIT,
      ok: counts[200] ?? 0,
      refused429: counts[429] ?? 0,
      refused503: counts[503] ?? 0,
      slots: [...new Set(slots)].join(','),
      nodesHoldingBudgetKeys: budgetKeysPerNode.filter((found) => found.length > 0).length,
      keySettled: keyCounter.settled,
      teamSettled: teamCounter.settled,
      storeWarnings: JSON.stringify(storeWarnings(a, b)),
    })
    expect(new Set(slots).size).toBe(1)
    expect(budgetKeysPerNode.filter((found) => found.length > 0)).toHaveLength(1)
    expect(counts).toEqual({ 200: FIT, 429: BURST - FIT })
    expect(keyCounter).toEqual({ settled: FIT * RESERVATION, reserved: 0 })
    expect(teamCounter).toEqual({ settled: FIT * RESERVATION, reserved: 0 })
  })
})
