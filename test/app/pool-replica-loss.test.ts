import type { ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { probeAll } from '../../src/backends/health-probes.js'
import { closeAfterFile } from '../helpers/close-after-file.js'
import { completionChunks, FakeUpstream, replyJson, replySse, chatCompletion, type UpstreamCall } from '../helpers/fake-upstream.js'
import { counterSum } from '../helpers/metric-values.js'
import { inParallel, startFleet } from '../helpers/replica-fleet.js'
import { userText } from '../helpers/test-app.js'
import { dataFrames } from '../helpers/sse.js'

// One replica of three dies under load. Requests it held that had not started answering go to
// another replica (the client never knows); streams it had started end with an SSE error frame
// (a retry could repeat what the client already has); it is ejected, and readmitted once a probe
// finds it back and a trial request succeeds. Probes are run by the test, time moved by it.

/** What a healthy replica answers: the whole answer, or a stream. */
function answer(call: UpstreamCall, res: ServerResponse): void {
  if (call.body['stream'] === true) replySse(res, completionChunks(['A llama', '.']))
  else replyJson(res, 200, chatCompletion())
}

/** What the dying replica does: holds whole answers forever; starts streams and never finishes them. */
function stall(call: UpstreamCall, res: ServerResponse): void {
  if (call.body['stream'] !== true) return
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  res.write(`data: ${JSON.stringify(completionChunks(['A llama'])[1])}\n\n`)
}

describe('losing a replica under load', () => {
  it('hides it from whole answers, breaks its streams with an error frame, ejects it and readmits it', async () => {
    const fleet = await startFleet({
      routing: 'round_robin', // so the dying replica is sure to hold a third of the requests
      healthCheck: { enabled: true, intervalMs: 3_600_000 }, // probed, but only when the test says
      ejection: { baseMs: 1_000, maxMs: 10_000 },
    })
    const { replicas, ask, clock, deps } = fleet
    for (const replica of replicas) replica.handle(answer)
    const port = Number(new URL(replicas[1]?.baseUrl ?? '').port)

    // Under load: 150 requests answered, so the budget has room and every replica has answered.
    const warm = await inParallel(150, 6, async (i) => (await ask(userText(`warm ${i}`))).status)
    expect(warm.every((s) => s === 200)).toBe(true)

    replicas[1]?.handle(stall)
    const whole = Array.from({ length: 30 }, (_, i) => ask(userText(`whole ${i}`)))
    const streams = Array.from({ length: 9 }, (_, i) => ask({ ...userText(`stream ${i}`), stream: true }))
    await fleet.untilArrivals(150 + 39)
    const held = (replicas[1]?.calls ?? []).filter((call) => !JSON.stringify(call.body['messages']).includes('warm '))
    const heldWhole = held.filter((call) => call.body['stream'] !== true).length
    const heldStreams = held.filter((call) => call.body['stream'] === true).length
    expect(heldWhole).toBeGreaterThan(0)
    expect(heldStreams).toBeGreaterThan(0)

    await replicas[1]?.close() // dies: its connections reset, its port refuses
    // And the load goes on while it is down.
    const during = Array.from({ length: 30 }, (_, i) => ask(userText(`during ${i}`)))

    const wholeStatuses = await Promise.all([...whole, ...during].map(async (res) => (await res).status))
    expect(wholeStatuses.filter((s) => s !== 200)).toEqual([]) // zero client-visible errors
    const streamTexts = await Promise.all(streams.map(async (res) => (await res).text()))
    const broken = streamTexts.filter((text) => dataFrames(text).some((frame) => frame.includes('"error"')))
    expect(broken.length).toBe(heldStreams) // each stream it had started ends with an error frame...
    for (const text of streamTexts.filter((t) => !broken.includes(t))) expect(dataFrames(text).at(-1)).toBe('[DONE]') // ...the rest end well

    const ejected = deps.pools.snapshot()['main']?.replicas['gpu1']
    expect(ejected).toMatchObject({ state: 'ejected', healthy: false })
    expect(await counterSum(deps.metrics.replicaEjections, { backend: 'main', replica: 'gpu1' })).toBe(1)
    console.info(
      `[pool-replica-loss] held when killed: ${heldWhole} whole, ${heldStreams} streams; ` +
        `retries sent: ${await counterSum(deps.metrics.backendRetries, { backend: 'main', result: 'sent' })}`,
    )

    // It comes back where it was: once its backoff has run out and a probe answers, one trial request, then up.
    const back = closeAfterFile(await FakeUpstream.start(port))
    back.handle(answer)
    clock.advance(1_000)
    await probeAll(deps.config.backends, deps.upstreamClient, deps.pools.health)
    expect(deps.pools.snapshot()['main']?.replicas['gpu1']).toMatchObject({ state: 'half_open' })
    const after = await inParallel(30, 3, async (i) => (await ask(userText(`after ${i}`))).status)
    expect(after.every((s) => s === 200)).toBe(true)
    expect(deps.pools.snapshot()['main']?.replicas['gpu1']).toMatchObject({ state: 'up', healthy: true })
    expect(back.calls.length).toBeGreaterThanOrEqual(5) // back in its turn of the rotation
  }, 30_000)
})
