import fc from 'fast-check'
import { Histogram, Registry } from 'prom-client'
import { describe, expect, it, vi } from 'vitest'
import { batchedHistogram } from './batched-histogram.js'

const LABELS = ['model', 'stream', 'cache'] as const
type Label = (typeof LABELS)[number]
const BUCKETS = [0.005, 0.01, 0.5, 1, 2.5]

/** A batched and a plain histogram of the same shape, each in a registry of its own, under the same name. */
function pair() {
  const config = { name: 'duration_seconds', help: 'h', labelNames: LABELS, buckets: BUCKETS }
  const batchedRegistry = new Registry()
  const plainRegistry = new Registry()
  return {
    batchedRegistry,
    plainRegistry,
    batched: batchedHistogram<Label>({ ...config, registers: [batchedRegistry] }),
    plain: new Histogram<Label>({ ...config, registers: [plainRegistry] }),
  }
}

describe('batchedHistogram', () => {
  it('reports what a plain prom-client histogram reports for the same observations, in get() and in a scrape', async () => {
    const labelSet = fc.record(
      { model: fc.constantFrom('a', 'b'), stream: fc.constantFrom('true', 'false'), cache: fc.constantFrom('hit', 'miss') },
      { requiredKeys: ['model'] },
    )
    // On the bounds, between them, above them all, below zero; and sums whose rounding depends on their order.
    const value = fc.oneof(fc.constantFrom(...BUCKETS, 0, -1, 7, 0.1 + 0.2), fc.double({ min: -10, max: 10, noNaN: true }))
    const step = fc.oneof(fc.record({ labels: labelSet, value }), fc.constant('read' as const))
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const { batched, plain, batchedRegistry, plainRegistry } = pair()
        const same = async () => {
          expect(await batched.get()).toEqual(await plain.get())
          expect(await batchedRegistry.metrics()).toBe(await plainRegistry.metrics())
        }
        for (const s of steps) {
          if (s === 'read') await same()
          else {
            batched.observe(s.labels, s.value)
            plain.observe(s.labels, s.value)
          }
        }
        await same()
      }),
    )
  })

  it('counts each value in the first bucket it fits, cumulatively, and one above every bound in +Inf only', async () => {
    const { batched, batchedRegistry } = pair()
    for (const value of [0.001, 0.005, 0.2, 0.2, 3]) batched.observe({ model: 'a' }, value)
    const text = await batchedRegistry.metrics()
    const counts = ['0.005', '0.01', '0.5', '1', '2.5', '+Inf'].map((le) => {
      const line = text.split('\n').find((l) => l.startsWith(`duration_seconds_bucket{le="${le}",model="a"}`))
      return Number(line?.split(' ')[1])
    })
    expect(counts).toEqual([2, 2, 4, 4, 4, 5])
    expect(text).toContain('duration_seconds_sum{model="a"} 3.406')
    expect(text).toContain('duration_seconds_count{model="a"} 5')
  })

  it('checks a label set once, and never hands prom-client an observation', async () => {
    const handed = vi.spyOn(Histogram.prototype as unknown as { observeWithoutExemplar: () => void }, 'observeWithoutExemplar')
    try {
      const { batched } = pair()
      for (let i = 0; i < 1_000; i++) batched.observe({ model: i % 2 === 0 ? 'a' : 'b', cache: 'miss' }, 0.002)
      expect(handed).not.toHaveBeenCalled()
      const counts = (await batched.get()).values.filter((v) => v.metricName === 'duration_seconds_count')
      expect(counts.map((v) => [v.labels, v.value])).toEqual([
        [{ model: 'a', cache: 'miss' }, 500],
        [{ model: 'b', cache: 'miss' }, 500],
      ])
    } finally {
      handed.mockRestore()
    }
  })

  it('refuses what prom-client refuses, at the call: an unknown label, a value that is not finite', () => {
    const { batched } = pair()
    expect(() => batched.observe({ model: 'a', colour: 'red' } as never, 1)).toThrow(/colour/)
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => batched.observe({ model: 'a' }, bad)).toThrow(new TypeError(`Value is not a valid number: ${bad}`))
    }
    expect(() => batched.observe(0.1)).toThrow(new TypeError('batchedHistogram.observe takes labels and a value'))
  })

  it('forgets every observation when reset', async () => {
    const { batched } = pair()
    batched.observe({ model: 'a' }, 1)
    batched.reset()
    batched.observe({ model: 'b' }, 2)
    const counts = (await batched.get()).values.filter((v) => v.metricName === 'duration_seconds_count')
    expect(counts.map((v) => [v.labels, v.value])).toEqual([[{ model: 'b' }, 1]])
  })

  it('offers no timer, child, zero or remove, which would bypass its counts', () => {
    const { batched } = pair()
    const refusal = (what: string) => new Error(`batchedHistogram offers observe(labels, value) only, not ${what}`)
    expect(() => batched.startTimer()).toThrow(refusal('startTimer()'))
    expect(() => batched.labels('a', 'true', 'hit')).toThrow(refusal('labels()'))
    expect(() => batched.zero({ model: 'a' })).toThrow(refusal('zero()'))
    expect(() => batched.remove({ model: 'a' })).toThrow(refusal('remove()'))
  })
})
