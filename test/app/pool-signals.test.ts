import type { ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { probeAll } from '../../src/backends/health-probes.js'
import { pollQueues } from '../../src/backends/queue-probes.js'
import { chatCompletion, replyJson, type UpstreamCall } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { inParallel, startFleet } from '../helpers/replica-fleet.js'
import { userText } from '../helpers/test-app.js'

// What replicas tell the pool besides failing: a 429's Retry-After, and vLLM's queue gauges.

describe('a 429 with Retry-After', () => {
  it('cools the replica for that long, without ejecting it, and the request goes to another', async () => {
    const { ask, replicas, clock, deps } = await startFleet({ routing: 'round_robin' })
    clock.freeze()
    replicas[0]?.handle((_call, res) => replyJson(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '30' }))
    const statuses = await inParallel(30, 1, async (i) => (await ask(userText(`q${i}`))).status)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(replicas[0]?.calls.length).toBe(1) // asked once, then left alone
    expect(deps.pools.snapshot()['main']?.replicas['gpu0']).toMatchObject({ state: 'up', failures: 0, coolingUntil: clock.now() + 30_000 })
    expect(await counterSum(deps.metrics.replicaFailures, { replica: 'gpu0', kind: 'http_429' })).toBe(1)

    clock.advance(30_000)
    replicas[0]?.handle((_call, res) => replyJson(res, 200, chatCompletion()))
    await inParallel(30, 1, (i) => ask(userText(`later ${i}`)))
    expect(replicas[0]?.calls.length).toBe(11) // back in its turn
  })
})

/** A vLLM replica's /metrics with these gauges (and a histogram line that must be skipped). */
function metricsReply(text: string) {
  return (call: UpstreamCall, res: ServerResponse) => {
    if (call.method === 'GET' && call.path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      res.end(`# HELP vllm:e2e_request_latency_seconds x\nvllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="m"} 3.0\n${text}`)
    } else replyJson(res, 200, chatCompletion())
  }
}

describe('queue awareness (vLLM)', () => {
  it("passes over replicas whose queue or KV cache is full, by either version's gauge names, while others are not", async () => {
    const { ask, replicas, counts, clock, deps } = await startFleet({ queueAware: { enabled: true, intervalMs: 2_000 } })
    clock.freeze()
    replicas[0]?.handle(metricsReply('vllm:num_requests_waiting{model_name="m"} 7.0\nvllm:kv_cache_usage_perc{model_name="m"} 0.2\n'))
    replicas[1]?.handle(metricsReply('vllm:num_requests_waiting{model_name="m"} 0.0\nvllm:gpu_cache_usage_perc{model_name="m"} 0.97\n'))
    replicas[2]?.handle(metricsReply('vllm:num_requests_waiting{model_name="m"} 0.0\nvllm:kv_cache_usage_perc{model_name="m"} 0.4\n'))
    await pollQueues(deps.config.backends, deps.upstreamClient, deps.pools)
    expect(replicas.map((r) => r.probes.filter((p) => p.path === '/metrics').length)).toEqual([1, 1, 1])
    expect(Object.values(deps.pools.snapshot()['main']?.replicas ?? {}).map((r) => r.saturated)).toEqual([true, true, false])

    await inParallel(30, 3, (i) => ask(userText(`q${i}`)))
    expect(counts()).toEqual([0, 0, 30])

    // Old news is no news: readings three intervals old no longer move traffic.
    clock.advance(3 * 2_000 + 1)
    await inParallel(60, 3, (i) => ask(userText(`later ${i}`)))
    expect(counts().every((n) => n > 0)).toBe(true)
  })

  it('keeps routing when every replica is saturated, and reads nothing from a server without the gauges', async () => {
    const { ask, replicas, counts, deps } = await startFleet({ queueAware: { enabled: true } })
    for (const replica of replicas.slice(0, 2)) replica.handle(metricsReply('vllm:num_requests_waiting 4\n'))
    replicas[2]?.handle(metricsReply('process_cpu_seconds_total 12\n'))
    await pollQueues(deps.config.backends, deps.upstreamClient, deps.pools)
    expect(Object.values(deps.pools.snapshot()['main']?.replicas ?? {}).map((r) => r.saturated)).toEqual([true, true, false])
    replicas[2]?.handle(metricsReply('vllm:num_requests_waiting 4\n'))
    await pollQueues(deps.config.backends, deps.upstreamClient, deps.pools)
    const statuses = await inParallel(60, 3, async (i) => (await ask(userText(`q${i}`))).status)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(counts().every((n) => n > 0)).toBe(true)
  })
})

describe('active probes of a pool', () => {
  it("asks every replica, at vLLM's /health beside /v1 with relativeTo: origin, and ejects the one that does not answer 2xx", async () => {
    const { replicas, deps } = await startFleet({
      healthCheck: { enabled: true, path: '/health', relativeTo: 'origin', intervalMs: 3_600_000 },
    })
    replicas[2]?.handle((call, res) => replyJson(res, call.method === 'GET' ? 503 : 200, {}))
    await probeAll(deps.config.backends, deps.upstreamClient, deps.pools.health)
    expect(replicas.map((r) => r.probes.map((p) => p.path))).toEqual([['/health'], ['/health'], ['/health']])
    const states = deps.pools.snapshot()['main']?.replicas ?? {}
    expect(Object.values(states).map((r) => r.state)).toEqual(['up', 'up', 'ejected'])
    expect(states['gpu2']?.lastError).toBe('probe answered HTTP 503')
  })
})
