import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/schema.js'
import { chatCompletion, FakeUpstream, replyJson } from '../helpers/fake-upstream.js'
import { startReplica, type Replica } from '../helpers/replica.js'
import { until } from '../helpers/wait.js'

// Running it as an operator does: a real process, reloaded with SIGHUP and POST /admin/reload under
// load, and stopped with SIGTERM in the order load balancers expect.

const ADMIN = 'sk-admin-operations'
const USER = 'sk-user-operations'
const MODEL = 'llava-hf/llava-1.5-7b-hf'

let backend: FakeUpstream
beforeAll(async () => {
  backend = await FakeUpstream.start()
  backend.handle((call, res) =>
    call.method === 'GET' ? replyJson(res, 200, { object: 'list', data: [] }) : replyJson(res, 200, chatCompletion()),
  )
})
afterAll(() => backend.close())

const config = (extra: { userBudget?: number; userAlias?: string; withUser?: boolean } = {}): ConfigInput => ({
  backends: { main: { baseUrl: backend.baseUrl, kind: 'vllm' } },
  models: [{ id: MODEL, backend: 'main' }],
  server: { drainDelayMs: 600, shutdownGraceMs: 5_000 },
  keys: [
    { alias: 'ops', secret: ADMIN, role: 'admin' },
    ...(extra.withUser === false
      ? []
      : [
          {
            alias: extra.userAlias ?? 'user',
            secret: USER,
            ...(extra.userBudget ? { budgets: [{ window: 'day' as const, tokens: extra.userBudget }] } : {}),
          },
        ]),
  ],
})

const chat = (replica: Replica, key: string, maxTokens = 16) =>
  fetch(`${replica.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens }),
  })
const reload = (replica: Replica, key = ADMIN) =>
  fetch(`${replica.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${key}` } })

describe('live reload', () => {
  it(
    'swaps the config 20 times under load without failing one request, and keeps the old one when the new file is invalid',
    { timeout: 60_000 },
    async () => {
      const replica = await startReplica({ config: config() })
      let running = true
      const statuses: number[] = []
      const load = async () => {
        while (running) statuses.push((await chat(replica, ADMIN)).status)
      }
      const loops = [load(), load(), load(), load()]
      for (let i = 0; i < 20; i++) {
        await replica.rewriteConfig(config({ userAlias: `user-${i}` }))
        if (i % 2 === 0) {
          replica.signal('SIGHUP')
          await replica.waitForLog(
            (e) => e.msg === 'config reloaded' && JSON.stringify(e).includes('"keys":2') && countReloads(replica) > i,
            {
              timeoutMs: 5_000,
              what: `reload ${i + 1}`,
            },
          )
        } else {
          expect((await reload(replica)).status).toBe(200)
        }
      }
      running = false
      await Promise.all(loops)
      expect(statuses.length).toBeGreaterThan(20)
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      // The last reload's line may still wait in the log's batch (up to 10 ms) when its answer arrives.
      await replica.waitForLog((e) => e.msg === 'config reloaded' && countReloads(replica) >= 20, {
        timeoutMs: 5_000,
        what: 'the 20th "config reloaded" line',
      })
      expect(countReloads(replica)).toBe(20)

      await replica.rewriteConfig('models: [ {id: broken')
      const refused = await reload(replica)
      expect(refused.status).toBe(422)
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'config_invalid',
        message: expect.stringContaining('not valid YAML') as unknown,
      })
      expect((await chat(replica, USER)).status).toBe(200) // the old config still runs
      expect((await reload(replica, USER)).status).toBe(403) // only admin keys reload
    },
  )

  it('stops a removed key at once, and applies a lowered budget to the usage already counted', { timeout: 30_000 }, async () => {
    const replica = await startReplica({ config: config({ userBudget: 100_000 }) })
    for (let i = 0; i < 3; i++) expect((await chat(replica, USER, 100)).status).toBe(200)
    await replica.rewriteConfig(config({ userBudget: 600 })) // already used: 3 x 602 (the backend's usage)
    expect((await reload(replica)).status).toBe(200)
    const over = await chat(replica, USER, 1)
    expect(over.status).toBe(429)
    await replica.rewriteConfig(config({ withUser: false }))
    expect((await reload(replica)).status).toBe(200)
    expect((await chat(replica, USER)).status).toBe(401)
  })
})

describe('draining on SIGTERM', () => {
  it(
    'reports not ready at once, keeps serving for drainDelayMs, then refuses new connections and exits 0 after in-flight requests',
    { timeout: 30_000 },
    async () => {
      const replica = await startReplica({ config: config() })
      const held = backend.holdAnswers((res) => replyJson(res, 200, chatCompletion({ content: 'finished while draining' })))
      const before = backend.calls.length
      const inFlight = chat(replica, USER)
      await backend.untilCalls(before + 1)
      const exited = replica.kill('SIGTERM')
      await replica.waitForLog((e) => e.msg === 'shutting down: not ready, draining', { timeoutMs: 5_000, what: 'the drain to start' })
      expect((await fetch(`${replica.url}/readyz`)).status).toBe(503) // load balancers stop sending...
      expect((await fetch(`${replica.url}/healthz`)).status).toBe(200) // ...while it still serves
      await until(
        async () =>
          fetch(`${replica.url}/healthz`).then(
            () => false,
            () => true,
          ),
        { timeoutMs: 5_000, what: 'the listener to close' },
      )
      held.release()
      const res = await inFlight
      expect(res.status).toBe(200)
      expect(JSON.stringify(await res.json())).toContain('finished while draining')
      expect(await exited).toBe(0)
      backend.handle((call, res2) =>
        call.method === 'GET' ? replyJson(res2, 200, { object: 'list', data: [] }) : replyJson(res2, 200, chatCompletion()),
      )
    },
  )
})

function countReloads(replica: Replica): number {
  return replica.entries().filter((e) => e.msg === 'config reloaded').length
}
