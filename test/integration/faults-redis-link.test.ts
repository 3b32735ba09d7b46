import { beforeAll, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { createLogger } from '../../src/lib/logger.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { counterKey, promptTokens, recordFigures, send, signal, untilArrivals, untilQuiet, type Outcome } from '../helpers/faults.js'
import { listen } from '../helpers/gateway-server.js'
import { ready } from '../helpers/redis.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { buildTestApp, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'
import { until } from '../helpers/wait.js'

// Issue 9, fault 7: the link to the budget Redis is cut mid-run (connections reset, reconnects
// refused) while requests are in flight. Requests meanwhile fail closed (503) or pass open
// (unmetered) as configured; the in-flight requests' leases run out during the outage, and once the
// link is back their settlements still land, late, so the counters are exact again.

const PREFIX = 'llava-gateway:'
const TEXT = 'Is it a llama?'
const PROMPT = promptTokens(TEXT)
const LEASE_MS = 1_000
const IN_FLIGHT = 4 // per gateway, at the backend when the link is cut
const DURING = 5 // per gateway, sent while the link is down
const AFTER = 3 // per gateway, once it is back
const log = createLogger('silent')

let redis: RedisServer
let upstream: FakeUpstream
let proxy: TcpProxy
let direct: RedisStore

beforeAll(async () => {
  ;[redis, upstream] = await Promise.all([startRedis(), FakeUpstream.start()])
  closeAfterFile(upstream)
  proxy = await startTcpProxy({ port: redis.port })
  direct = closeAfterFile(new RedisStore({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log }))
  await ready(direct)
})

/** A gateway whose Redis connection goes through the proxy, failing as `mode` says. */
async function gateway(mode: 'closed' | 'open') {
  const config: ConfigInput = testConfig(upstream.baseUrl, {
    redis: { url: proxy.url() },
    keys: [{ alias: mode, team: mode, secret: TEST_KEY, budgets: [{ window: 'day', tokens: 1_000_000 }] }],
    budget: { leaseMs: LEASE_MS, whenStoreFails: mode },
  })
  // A cut link fails commands at once (no offline queue), whatever the timeout. These apps share
  // the test's event loop, so a wide timeout keeps this test about the link, not about spurious
  // timeouts (those are faults-budget-replicas.test.ts's).
  const store = new RedisStore({ url: proxy.url(), commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, log })
  await ready(store)
  const server = closeAfterFile(await listen(buildTestApp(config, { store }).app))
  return { mode, store, url: server.url, counter: counterKey(PREFIX, { team: mode, scope: 'key', name: mode }, 'day') }
}

describe('the link to Redis cut mid-run', () => {
  it('fails closed or passes open as configured, and the counters are exact once the link is back', async () => {
    const gateways = await Promise.all([gateway('closed'), gateway('open')])
    let completion = 0
    let gate = signal()
    upstream.handle(async (_call, res) => {
      const used = 1 + (completion++ % 9)
      await gate.promise
      replyJson(res, 200, chatCompletion({ usage: { prompt_tokens: PROMPT, completion_tokens: used, total_tokens: PROMPT + used } }))
    })
    const ask = (g: (typeof gateways)[number]) => send(g.url, { ...userText(TEXT), max_tokens: 20 })
    const many = (n: number) => Promise.all(gateways.map((g) => Promise.all(Array.from({ length: n }, () => ask(g)))))

    // In flight: admitted, leases held, answers held at the backend.
    const inFlight = many(IN_FLIGHT)
    await untilArrivals(upstream, 2 * IN_FLIGHT, { timeoutMs: 5_000, what: 'every in-flight request at the backend' })
    proxy.refuse(true)
    proxy.cut()
    const cutAt = performance.now()
    gate.fire() // they finish now, and cannot settle
    gate = signal()
    gate.fire()
    const [inFlightClosed, inFlightOpen] = await inFlight
    const [duringClosed, duringOpen] = await many(DURING)
    // Keep the link down until the in-flight leases have run out by Redis's clock (read around the proxy).
    await until(async () => (await direct.read(gateways.map((g) => g.counter))).every((c) => c.reserved === 0), {
      timeoutMs: 5 * LEASE_MS,
      what: 'the in-flight leases to expire',
    })
    proxy.refuse(false)
    const reopenedAt = performance.now()
    await Promise.all(gateways.map((g) => ready(g.store)))
    const reconnectMs = performance.now() - reopenedAt
    const [afterClosed, afterOpen] = await many(AFTER)
    const counters = await Promise.all(gateways.map((g) => untilQuiet(direct, g.counter, 15_000)))
    const quietMs = performance.now() - reopenedAt

    const tokens = (outcomes: readonly Outcome[]) => outcomes.reduce((sum, o) => sum + (o.metered ? o.tokens : 0), 0)
    const byMode = {
      closed: { inFlight: inFlightClosed!, during: duringClosed!, after: afterClosed!, counter: counters[0]! },
      open: { inFlight: inFlightOpen!, during: duringOpen!, after: afterOpen!, counter: counters[1]! },
    }
    for (const [mode, run] of Object.entries(byMode)) {
      const metered = tokens([...run.inFlight, ...run.after])
      recordFigures(`7 link cut mid-run (${mode})`, {
        inFlightOk: run.inFlight.filter((o) => o.status === 200 && o.metered).length,
        duringStatuses: [...new Set(run.during.map((o) => o.status))].join(','),
        duringUnmeteredTokens: run.during.reduce((sum, o) => sum + (o.metered ? 0 : o.tokens), 0),
        longestWaitWhileDownMs: Math.round(Math.max(...run.during.map((o) => o.ms))),
        afterOk: run.after.filter((o) => o.status === 200 && o.metered).length,
        tokensExpected: metered,
        tokensSettled: run.counter.settled,
        tokensLeaked: run.counter.settled - metered,
        outageMs: Math.round(reopenedAt - cutAt),
        reconnectMs: Math.round(reconnectMs),
        counterExactAfterReopenMs: Math.round(quietMs),
      })
      expect(run.inFlight.every((o) => o.status === 200 && o.metered)).toBe(true)
      expect(run.after.every((o) => o.status === 200 && o.metered)).toBe(true)
      expect(run.counter).toEqual({ settled: metered, reserved: 0 })
    }
    expect(byMode.closed.during.map((o) => [o.status, o.code])).toEqual(Array(DURING).fill([503, 'budget_unavailable']))
    expect(byMode.open.during.map((o) => [o.status, o.metered])).toEqual(Array(DURING).fill([200, false]))
    await Promise.all(gateways.map((g) => g.store.close()))
  })
})
