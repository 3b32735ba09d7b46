import { describe, it, expect, vi } from 'vitest'
import type { CacheSink } from '../cache/sink.js'
import { createMetrics } from '../metrics/metrics.js'
import type { PromptTokenCount } from '../meter/prompt-tokens.js'
import { RequestUsage } from '../meter/request-usage.js'
import type { StreamObserver, StreamOutcome } from './relay-stream.js'
import { combineObservers, streamCapture } from './stream-capture.js'

/** Lets every already-settled promise callback run; no timers involved. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

const PROMPT: PromptTokenCount = { textTokens: 24, imageTokens: 576, images: 1, total: 600 }
const WHO = { key_alias: 'team-a-key', team: 'team-a', model: 'llava' }

function requestUsage(): RequestUsage {
  return new RequestUsage(PROMPT, WHO, createMetrics({ defaultMetrics: false }))
}

function fakeSink() {
  const complete = vi.fn<CacheSink['complete']>(async () => {})
  const abandon = vi.fn<CacheSink['abandon']>()
  return { sink: { complete, abandon } satisfies CacheSink, complete, abandon }
}

const ENVELOPE = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'llava' }
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  ...ENVELOPE,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
})

describe('combineObservers', () => {
  it('tells every observer each chunk and usage, in the order given', () => {
    const calls: string[] = []
    const observer = (name: string): StreamObserver => ({
      chunk: (c) => calls.push(`${name}:chunk:${String(c['n'])}`),
      usage: (u) => calls.push(`${name}:usage:${String(u['total_tokens'])}`),
    })
    const combined = combineObservers(observer('a'), observer('b'), observer('c'))
    combined.chunk?.({ n: 1 })
    combined.chunk?.({ n: 2 })
    combined.usage?.({ total_tokens: 9 })
    expect(calls).toEqual([
      'a:chunk:1',
      'b:chunk:1',
      'c:chunk:1',
      'a:chunk:2',
      'b:chunk:2',
      'c:chunk:2',
      'a:usage:9',
      'b:usage:9',
      'c:usage:9',
    ])
  })

  it('skips observers that lack a method', async () => {
    const chunk = vi.fn()
    const end = vi.fn()
    const combined = combineObservers({}, { chunk, end })
    combined.chunk?.({ n: 1 })
    combined.usage?.({ total_tokens: 1 })
    await combined.end?.('completed')
    expect(chunk).toHaveBeenCalledWith({ n: 1 })
    expect(end).toHaveBeenCalledWith('completed')
  })

  it('calls end on each observer in order, awaiting each async end before the next', async () => {
    const calls: string[] = []
    const first = deferred()
    const second = deferred()
    const combined = combineObservers(
      {
        end: (o) => {
          calls.push(`a:start:${o}`)
          return first.promise.then(() => void calls.push('a:done'))
        },
      },
      {
        end: (o) => {
          calls.push(`b:start:${o}`)
          return second.promise.then(() => void calls.push('b:done'))
        },
      },
      { end: (o) => void calls.push(`c:${o}`) },
    )
    let ended = false
    const ending = Promise.resolve(combined.end?.('interrupted')).then(() => (ended = true))

    await settle()
    expect(calls).toEqual(['a:start:interrupted'])
    first.resolve()
    await settle()
    expect(calls).toEqual(['a:start:interrupted', 'a:done', 'b:start:interrupted'])
    expect(ended).toBe(false)
    second.resolve()
    await ending
    expect(calls).toEqual(['a:start:interrupted', 'a:done', 'b:start:interrupted', 'b:done', 'c:interrupted'])
  })

  it('asks only the first observer for missingUsage', () => {
    const filled = { choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }
    const first = vi.fn(() => filled)
    const second = vi.fn(() => ({ other: true }))
    const combined = combineObservers({ missingUsage: first }, { missingUsage: second })
    expect(combined.missingUsage?.()).toBe(filled)
    expect(first).toHaveBeenCalledTimes(1)
    expect(second).not.toHaveBeenCalled()
  })

  it('answers missingUsage undefined when the first observer has none, even if a later one has', () => {
    const second = vi.fn(() => ({ other: true }))
    const combined = combineObservers({}, { missingUsage: second })
    expect(combined.missingUsage?.()).toBeUndefined()
    expect(second).not.toHaveBeenCalled()
  })
})

describe('streamCapture', () => {
  it("on 'completed' hands the sink the assembled completion and the settled usage", async () => {
    const { sink, complete, abandon } = fakeSink()
    const usage = requestUsage()
    const observer = streamCapture(sink, usage)
    observer.chunk?.(chunk({ role: 'assistant', content: '' }))
    observer.chunk?.(chunk({ content: 'A cat ' }))
    observer.chunk?.(chunk({ content: 'on a mat.' }))
    observer.chunk?.(chunk({}, 'stop'))
    const settled = usage.settle({ prompt_tokens: 601, completion_tokens: 5, total_tokens: 606 }, () => '')

    await observer.end?.('completed')

    expect(abandon).not.toHaveBeenCalled()
    expect(complete).toHaveBeenCalledTimes(1)
    expect(complete).toHaveBeenCalledWith(
      {
        id: 'chatcmpl-1',
        created: 1_700_000_000,
        model: 'llava',
        system_fingerprint: undefined,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'A cat on a mat.' }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 601, completion_tokens: 5, total_tokens: 606 },
      },
      settled,
    )
    expect(complete.mock.calls[0]?.[1]).toMatchObject({ source: 'upstream', imageTokens: 576 })
  })

  it("passes the gateway's own usage when the backend reported none", async () => {
    const { sink, complete } = fakeSink()
    const usage = requestUsage()
    const observer = streamCapture(sink, usage)
    observer.chunk?.(chunk({ content: 'Hi' }, 'stop'))
    const settled = usage.settle(undefined, () => 'Hi')
    await observer.end?.('completed')
    expect(settled.source).toBe('gateway')
    expect(complete).toHaveBeenCalledWith(expect.objectContaining({ usage: settled.usage }), settled)
  })

  it('waits for the sink to finish storing before end resolves', async () => {
    const stored = deferred()
    const complete = vi.fn<CacheSink['complete']>(() => stored.promise)
    const usage = requestUsage()
    usage.settle({ prompt_tokens: 1, completion_tokens: 1 }, () => '')
    const observer = streamCapture({ complete, abandon: vi.fn() }, usage)
    observer.chunk?.(chunk({ content: 'x' }, 'stop'))
    let ended = false
    const ending = Promise.resolve(observer.end?.('completed')).then(() => (ended = true))
    await settle()
    expect(complete).toHaveBeenCalledTimes(1)
    expect(ended).toBe(false)
    stored.resolve()
    await ending
    expect(ended).toBe(true)
  })

  it.each<StreamOutcome>(['interrupted', 'upstream_error', 'client_aborted'])(
    "abandons on '%s', even with settled usage",
    async (outcome) => {
      const { sink, complete, abandon } = fakeSink()
      const usage = requestUsage()
      const observer = streamCapture(sink, usage)
      observer.chunk?.(chunk({ content: 'A cat' }))
      usage.settle({ prompt_tokens: 600, completion_tokens: 2 }, () => '')
      await observer.end?.(outcome)
      expect(abandon).toHaveBeenCalledTimes(1)
      expect(complete).not.toHaveBeenCalled()
    },
  )

  it("abandons on 'completed' when the usage was never settled", async () => {
    const { sink, complete, abandon } = fakeSink()
    const observer = streamCapture(sink, requestUsage())
    observer.chunk?.(chunk({ content: 'x' }, 'stop'))
    await observer.end?.('completed')
    expect(abandon).toHaveBeenCalledTimes(1)
    expect(complete).not.toHaveBeenCalled()
  })
})
