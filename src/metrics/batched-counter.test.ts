import fc from 'fast-check'
import { Counter, Registry } from 'prom-client'
import { describe, expect, it, vi } from 'vitest'
import { batchedCounter } from './batched-counter.js'

const LABELS = ['route', 'status_class', 'model'] as const
type Label = (typeof LABELS)[number]

function pair() {
  const registry = new Registry()
  const config = { help: 'h', labelNames: LABELS, registers: [registry] }
  return {
    registry,
    batched: batchedCounter<Label>({ ...config, name: 'batched_total' }),
    plain: new Counter<Label>({ ...config, name: 'plain_total' }),
  }
}

const valuesOf = async (counter: Counter<Label>) =>
  (await counter.get()).values
    .map(({ labels, value }) => ({ labels, value }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))

describe('batchedCounter', () => {
  it('reports what a plain prom-client counter reports for the same increments, read at any point', async () => {
    const labelSet = fc.record(
      { route: fc.constantFrom('chat', 'models'), status_class: fc.constantFrom('2xx', '4xx'), model: fc.constantFrom('a', 'b') },
      { requiredKeys: ['route'] },
    )
    const step = fc.oneof(
      fc.record({ labels: labelSet, value: fc.option(fc.nat(1_000), { nil: undefined }) }),
      fc.constant('read' as const),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const { batched, plain } = pair()
        for (const s of steps) {
          if (s === 'read') {
            expect(await valuesOf(batched)).toEqual(await valuesOf(plain))
            continue
          }
          batched.inc(s.labels, s.value)
          plain.inc(s.labels, s.value)
        }
        expect(await valuesOf(batched)).toEqual(await valuesOf(plain))
      }),
    )
  })

  it('shows every increment in a scrape', async () => {
    const { registry, batched } = pair()
    batched.inc({ route: 'chat', status_class: '2xx', model: 'a' })
    batched.inc({ route: 'chat', status_class: '2xx', model: 'a' }, 2.5)
    batched.inc({ route: 'models', status_class: '4xx', model: 'b' }, 4)
    const text = await registry.metrics()
    expect(text).toContain('batched_total{route="chat",status_class="2xx",model="a"} 3.5')
    expect(text).toContain('batched_total{route="models",status_class="4xx",model="b"} 4')
    batched.inc({ route: 'models', status_class: '4xx', model: 'b' })
    expect(await registry.metrics()).toContain('batched_total{route="models",status_class="4xx",model="b"} 5')
  })

  it('refuses what prom-client refuses, at the call: an unknown label, a negative, NaN or infinite increment', () => {
    const { batched } = pair()
    expect(() => batched.inc({ route: 'chat', colour: 'red' } as never)).toThrow(/colour/)
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => batched.inc({ route: 'chat' }, bad)).toThrow(new TypeError(`Value is not a valid counter increment: ${bad}`))
    }
  })

  it('shows a series incremented by 0, at 0', async () => {
    const { batched } = pair()
    batched.inc({ route: 'chat' }, 0)
    expect((await batched.get()).values).toEqual([{ labels: { route: 'chat' }, value: 0 }])
  })

  it('hands prom-client one sum per label set at each read, however many increments it had', async () => {
    const handed = vi.spyOn(Counter.prototype as unknown as { incWithoutExemplar: () => void }, 'incWithoutExemplar')
    try {
      const { batched } = pair()
      for (let i = 0; i < 1_000; i++) batched.inc({ route: 'chat', model: i % 2 === 0 ? 'a' : 'b' })
      expect(handed).not.toHaveBeenCalled()
      await batched.get()
      expect(handed).toHaveBeenCalledTimes(2)
      expect((await batched.get()).values.map((v) => v.value)).toEqual([500, 500])
    } finally {
      handed.mockRestore()
    }
  })

  it('forgets increments not yet read when reset', async () => {
    const { batched } = pair()
    batched.inc({ route: 'chat' }, 3)
    await batched.get()
    batched.inc({ route: 'chat' }, 2)
    batched.reset()
    batched.inc({ route: 'chat' }, 1)
    expect((await batched.get()).values.map((v) => v.value)).toEqual([1])
  })

  it('leaves inc() without labels to prom-client, on a counter that has none', async () => {
    const counter = batchedCounter({ name: 'bare_total', help: 'h', labelNames: [], registers: [] })
    counter.inc()
    counter.inc(2)
    expect((await counter.get()).values.map((v) => v.value)).toEqual([3])
  })
})
