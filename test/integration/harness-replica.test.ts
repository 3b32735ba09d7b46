import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { chatRequest, TEST_KEY, testConfig, userText } from '../helpers/test-app.js'

// Proves test/helpers/replica.ts: the gateway as real processes sharing one private redis-server.

let redis: RedisServer
let upstream: FakeUpstream
beforeAll(async () => {
  ;[redis, upstream] = await Promise.all([startRedis(), FakeUpstream.start()])
})
afterAll(() => upstream.close())

const replicaConfig = () =>
  testConfig(upstream.baseUrl, {
    redis: { url: redis.url, commandTimeoutMs: 1_000 }, // two shared cores: no spurious store timeouts
    keys: [{ alias: 'harness', secret: '${HARNESS_KEY}' }], // the secret comes from the replica's env
  })
const chat = (replica: Replica) => fetch(`${replica.url}/v1/chat/completions`, chatRequest(userText('hi')))

describe('startReplica', () => {
  // One pair of replicas for every control: each start costs a Node process loading the gateway under tsx.
  it('runs two replicas on one Redis; freezes one, SIGKILLs it, and the other keeps answering', async () => {
    const started = Date.now()
    const [a, b] = await Promise.all([0, 1].map(() => startReplica({ config: replicaConfig(), env: { HARNESS_KEY: TEST_KEY } })))
    console.log(`two replicas listening in ${Date.now() - started} ms`)
    for (const replica of [a!, b!]) {
      expect(replica.url).toBe(`http://127.0.0.1:${replica.port}`)
      expect(replica.entries().find((e) => e.msg === 'llava-gateway listening')).toMatchObject({ store: 'redis' })
      const res = await chat(replica)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ object: 'chat.completion' })
    }
    expect(upstream.calls).toHaveLength(2)

    a!.freeze() // the port still accepts (the kernel does that); nothing answers
    const timedOut = await fetch(`${a!.url}/healthz`, { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e)
    expect(timedOut).toMatchObject({ name: 'TimeoutError' })
    const pending = fetch(`${a!.url}/healthz`)
    a!.thaw()
    expect((await pending).status).toBe(200)

    expect(await a!.kill('SIGKILL')).toBeNull() // killed by the signal: no exit code
    expect(await a!.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' })
    await expect(chat(a!)).rejects.toThrow() // nothing listens there any more
    expect((await chat(b!)).status).toBe(200)

    expect(await b!.kill()).toBe(0) // SIGTERM: drains and exits cleanly
    expect(b!.entries().map((e) => e.msg)).toContain('stopped')
  })

  it("fails with the replica's own words when it cannot start", async () => {
    const config = { ...replicaConfig(), models: [] }
    await expect(startReplica({ config, env: { HARNESS_KEY: TEST_KEY } })).rejects.toThrow(/exited \(code 1\).*models/s)
  })
})
