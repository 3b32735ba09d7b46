import { Histogram, type HistogramConfiguration, type LabelValues } from 'prom-client'
import { LabelSets } from './label-sets.js'

/** One label set's observations: a count per bucket (not yet cumulative), their sum and count. */
type Series<T extends string> = { labels: LabelValues<T>; buckets: number[]; sum: number; count: number }

/** A value as prom-client's own histogram reports it (no exemplars: a bucket's is null). */
type Value<T extends string> = { labels: LabelValues<T | 'le'>; value: number; metricName: string; exemplar?: null }

/**
 * A prom-client Histogram whose observations are counted on the side, per label set, and read by
 * prom-client's own scrape. prom-client checks the labels and builds a key from them on every
 * observe() (2-3 µs on Node 20); a chat request observes two or three histograms. Here a label set
 * is checked once, the first time it is seen (LabelSets).
 *
 * What a scrape or get() shows is what a plain prom-client histogram would for the same
 * observations, in the same order (a test compares the two). Label sets are as bounded as
 * prom-client's own (metrics/labels.ts bounds every value). Only observe(labels, value) is offered:
 * the gateway uses nothing else, and a timer or child would bypass the counts kept here.
 */
export function batchedHistogram<T extends string>(
  config: HistogramConfiguration<T> & { labelNames: readonly T[]; buckets: readonly number[] },
): Histogram<T> {
  const bounds = config.buckets
  const series = new LabelSets<T, Series<T>>(config.labelNames, (labels) => ({ labels, buckets: bounds.map(() => 0), sum: 0, count: 0 }))
  const histogram = new Histogram<T>(config)

  const observe = (labels: LabelValues<T>, value: number): void => {
    if (typeof labels !== 'object') throw new TypeError('batchedHistogram.observe takes labels and a value')
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`)
    const entry = series.entry(labels)
    // The first bucket the value fits; a value above every bound is counted only in +Inf, which is the count.
    const bucket = bounds.findIndex((bound) => value <= bound)
    if (bucket >= 0) entry.buckets[bucket] = (entry.buckets[bucket] ?? 0) + 1
    entry.sum += value
    entry.count += 1
  }

  /** As prom-client's getForPromString: per label set, its cumulative buckets, +Inf, sum and count. */
  const forPromString = async () => {
    const values: Array<Value<T> & { sharedLabels: LabelValues<T> }> = []
    const bucketName = `${config.name}_bucket`
    for (const { labels, buckets, sum, count } of series.all) {
      let cumulative = 0
      bounds.forEach((le, i) => {
        cumulative += buckets[i] ?? 0
        values.push({
          labels: { le } as LabelValues<T | 'le'>,
          sharedLabels: labels,
          value: cumulative,
          metricName: bucketName,
          exemplar: null,
        })
      })
      values.push(
        { labels: { le: '+Inf' } as LabelValues<T | 'le'>, sharedLabels: labels, value: count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: labels, value: sum, metricName: `${config.name}_sum` },
        { labels: {}, sharedLabels: labels, value: count, metricName: `${config.name}_count` },
      )
    }
    return { name: config.name, help: config.help, type: 'histogram', values, aggregator: config.aggregator ?? 'sum' }
  }

  const unsupported = (what: string) => () => {
    throw new Error(`batchedHistogram offers observe(labels, value) only, not ${what}`)
  }
  Object.assign(histogram, {
    observe,
    getForPromString: forPromString,
    reset: () => series.clear(),
    labels: unsupported('labels()'),
    startTimer: unsupported('startTimer()'),
    zero: unsupported('zero()'),
    remove: unsupported('remove()'),
  })
  return histogram
}
