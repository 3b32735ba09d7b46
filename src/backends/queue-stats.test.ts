import { describe, expect, it } from 'vitest'
import { isSaturated, readVllmQueue } from './queue-stats.js'

// Excerpts shaped like vLLM's own /metrics: V1 (0.9+, both cache gauges until the old one is hidden) and v0.

const V1 = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llava-hf/llava-1.5-7b-hf"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llava-hf/llava-1.5-7b-hf"} 2.0
vllm:num_requests_waiting{engine="1",model_name="llava-hf/llava-1.5-7b-hf"} 1.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead.
vllm:gpu_cache_usage_perc{engine="0",model_name="llava-hf/llava-1.5-7b-hf"} 0.11
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
vllm:kv_cache_usage_perc{engine="0",model_name="llava-hf/llava-1.5-7b-hf"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="llava-hf/llava-1.5-7b-hf"} 0.5
`

const V0 = `vllm:num_requests_waiting{model_name="llava"} 0.0
vllm:gpu_cache_usage_perc{model_name="llava"} 0.93
vllm:num_requests_swapped{model_name="llava"} 0.0
`

describe('readVllmQueue', () => {
  it('adds up waiting requests across engines and takes the fullest engine’s KV cache, preferring the V1 gauge', () => {
    expect(readVllmQueue(V1)).toEqual({ waiting: 3, kvCacheUsage: 0.5 })
  })

  it('reads v0’s gpu_cache_usage_perc when kv_cache_usage_perc is absent', () => {
    expect(readVllmQueue(V0)).toEqual({ waiting: 0, kvCacheUsage: 0.93 })
  })

  it('says nothing of gauges that are absent, and skips what it cannot parse', () => {
    expect(readVllmQueue('process_cpu_seconds_total 12\nvllm:num_requests_waiting{x="}"} oops\n')).toEqual({
      waiting: undefined,
      kvCacheUsage: undefined,
    })
  })

  it('reads samples without labels, with a timestamp, and with quoted braces and spaces in label values', () => {
    expect(readVllmQueue('vllm:num_requests_waiting 5 1712345678000\nvllm:kv_cache_usage_perc{m="a} b\\"{"} 0.75\n')).toEqual({
      waiting: 5,
      kvCacheUsage: 0.75,
    })
  })
})

describe('isSaturated', () => {
  const limits = { maxWaiting: 0, maxKvCacheUsage: 0.9 }
  it.each([
    [{ waiting: 0, kvCacheUsage: 0.5 }, false],
    [{ waiting: 1, kvCacheUsage: 0.5 }, true],
    [{ waiting: 0, kvCacheUsage: 0.9 }, true],
    [{ waiting: undefined, kvCacheUsage: undefined }, false],
    [{ waiting: 3, kvCacheUsage: undefined }, true],
  ])('%j → %s', (reading, saturated) => {
    expect(isSaturated(reading, limits)).toBe(saturated)
  })
})
