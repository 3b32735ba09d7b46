import type { QueueAwareConfig } from '../config/pool-schema.js'

/** What a vLLM server's /metrics says of its queue; undefined where it says nothing. */
export type QueueReading = Readonly<{ waiting: number | undefined; kvCacheUsage: number | undefined }>

/**
 * The gauges, by name across vLLM versions: `num_requests_waiting` in all of them; KV-cache use as
 * `gpu_cache_usage_perc` in v0 (deprecated in 0.9, hidden later) and `kv_cache_usage_perc` in V1
 * (a fraction, 1 = full, despite the name). Series are per model and engine: waiting requests add
 * up, and the fullest engine's cache is the one a new request may wait on.
 */
const WAITING = 'vllm:num_requests_waiting'
const KV_CACHE = 'vllm:kv_cache_usage_perc'
const KV_CACHE_V0 = 'vllm:gpu_cache_usage_perc'

/** The queue gauges in a Prometheus text exposition; anything else in it is skipped unread. */
export function readVllmQueue(text: string): QueueReading {
  let waiting: number | undefined
  let kv: number | undefined
  let kvV0: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith('vllm:')) continue
    const sample = parseSample(line)
    if (!sample) continue
    if (sample.name === WAITING) waiting = (waiting ?? 0) + sample.value
    else if (sample.name === KV_CACHE) kv = Math.max(kv ?? 0, sample.value)
    else if (sample.name === KV_CACHE_V0) kvV0 = Math.max(kvV0 ?? 0, sample.value)
  }
  return { waiting, kvCacheUsage: kv ?? kvV0 }
}

/** Saturated: more waiting than allowed, or the KV cache as full as allowed. A gauge it lacks says nothing. */
export function isSaturated(reading: QueueReading, config: Pick<QueueAwareConfig, 'maxWaiting' | 'maxKvCacheUsage'>): boolean {
  return (
    (reading.waiting !== undefined && reading.waiting > config.maxWaiting) ||
    (reading.kvCacheUsage !== undefined && reading.kvCacheUsage >= config.maxKvCacheUsage)
  )
}

/** `name{labels} value [timestamp]` or `name value`; label values may hold spaces and escaped quotes. */
function parseSample(line: string): { name: string; value: number } | undefined {
  let end = 0
  while (end < line.length && line[end] !== '{' && line[end] !== ' ') end++
  const name = line.slice(0, end)
  let at = end
  if (line[at] === '{') {
    let quoted = false
    for (at++; at < line.length; at++) {
      const char = line[at]
      if (quoted && char === '\\') at++
      else if (char === '"') quoted = !quoted
      else if (char === '}' && !quoted) break
    }
    at++
  }
  const value = Number(line.slice(at).trim().split(' ')[0])
  return Number.isFinite(value) ? { name, value } : undefined
}
