import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import { encode } from '../../test/helpers/sse.js'
import { settle } from '../../test/helpers/step-app.js'
import { FrameSource } from './pull-stream.js'

/**
 * A source of byte chunks that records what happened to it: how many chunks were asked for,
 * whether it started and was closed (its `finally` ran), and, once `idle()` is called, a read
 * that hangs until `unblock()` (what `stop` does to a real backend body).
 */
function source(chunks: readonly string[], options: { failAfter?: number; idleAfter?: number } = {}) {
  const seen = { started: false, pulled: 0, closed: false }
  let unblock!: () => void
  const blocked = new Promise<void>((resolve) => (unblock = resolve))
  async function* frames(): AsyncGenerator<Uint8Array, void> {
    seen.started = true
    try {
      for (const [i, chunk] of chunks.entries()) {
        if (i === options.failAfter) throw new Error('backend reset')
        if (i === options.idleAfter) await blocked
        seen.pulled++
        yield encode(chunk)
      }
      if (chunks.length === options.failAfter) throw new Error('backend reset')
      if (chunks.length === options.idleAfter) await blocked
    } finally {
      seen.closed = true
    }
  }
  return { frames: frames(), seen, unblock: () => unblock() }
}

/** Hooks that record every call. */
function hooks(onStop: () => void = () => undefined) {
  const calls = { ends: [] as boolean[], stops: 0 }
  return {
    calls,
    hooks: {
      stop: () => {
        calls.stops++
        onStop()
      },
      end: (cancelled: boolean) => void calls.ends.push(cancelled),
    },
  }
}

const decoder = new TextDecoder()

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text
    text += decoder.decode(value)
  }
}

describe('FrameSource: the end is told exactly once', () => {
  it('read to the end: every chunk in order, then end(false) once; stop is not called', async () => {
    const { frames, seen } = source(['a', 'b', 'c'])
    const { calls, hooks: h } = hooks()
    const reader = new FrameSource(frames, h).toWebStream().getReader()
    expect(await readAll(reader)).toBe('abc')
    expect(calls).toEqual({ ends: [false], stops: 0 })
    expect(seen.closed).toBe(true)
  })

  it('a cancel after the end changes nothing', async () => {
    const { frames } = source(['a'])
    const { calls, hooks: h } = hooks()
    const reader = new FrameSource(frames, h).toWebStream().getReader()
    await readAll(reader)
    await reader.cancel()
    expect(calls).toEqual({ ends: [false], stops: 0 })
  })

  it('cancelled mid-stream: stop, then end(true) once, and the source is closed', async () => {
    const { frames, seen } = source(['a', 'b', 'c'])
    const { calls, hooks: h } = hooks()
    const reader = new FrameSource(frames, h).toWebStream().getReader()
    expect(decoder.decode((await reader.read()).value)).toBe('a')
    await reader.cancel()
    expect(calls).toEqual({ ends: [true], stops: 1 })
    expect(seen.closed).toBe(true)
    expect(seen.pulled).toBe(1)
  })

  it('cancelled twice (reader and signal): still one end', async () => {
    const controller = new AbortController()
    const { frames } = source(['a', 'b'])
    const { calls, hooks: h } = hooks()
    const reader = new FrameSource(frames, h, controller.signal).toWebStream().getReader()
    await reader.read()
    await reader.cancel()
    controller.abort()
    await settle()
    expect(calls).toEqual({ ends: [true], stops: 1 })
  })

  it('cancelled before the first read: end(true) once, and the source never starts', async () => {
    const { frames, seen } = source(['a'])
    const { calls, hooks: h } = hooks()
    await new FrameSource(frames, h).toWebStream().cancel()
    expect(calls).toEqual({ ends: [true], stops: 1 })
    expect(seen.started).toBe(false)
  })

  it('a signal that aborts while the source is idle: stop unblocks it, end(true) once, the pending read ends', async () => {
    const controller = new AbortController()
    const { frames, seen, unblock } = source(['a', 'b'], { idleAfter: 1 })
    const { calls, hooks: h } = hooks(unblock)
    const reader = new FrameSource(frames, h, controller.signal).toWebStream().getReader()
    expect(decoder.decode((await reader.read()).value)).toBe('a')
    const pending = reader.read()
    await settle()
    expect(calls.ends).toEqual([])
    controller.abort()
    // Unblocked, this source hands over what it had (a destroyed body has nothing); then the stream ends, never hangs.
    expect(decoder.decode((await pending).value)).toBe('b')
    expect((await reader.read()).done).toBe(true)
    expect(calls).toEqual({ ends: [true], stops: 1 })
    expect(seen.closed).toBe(true)
  })

  it('a signal already aborted: end(true) once without any read, and the source never starts', async () => {
    const { frames, seen } = source(['a'])
    const { calls, hooks: h } = hooks()
    new FrameSource(frames, h, AbortSignal.abort()).toWebStream()
    await settle()
    expect(calls).toEqual({ ends: [true], stops: 1 })
    expect(seen.started).toBe(false)
  })

  it('a source that throws: the reader gets the error, end(false) once, no stop', async () => {
    const { frames } = source(['a', 'b'], { failAfter: 1 })
    const { calls, hooks: h } = hooks()
    const reader = new FrameSource(frames, h).toWebStream().getReader()
    expect(decoder.decode((await reader.read()).value)).toBe('a')
    await expect(reader.read()).rejects.toThrow('backend reset')
    expect(calls).toEqual({ ends: [false], stops: 0 })
  })

  it('drops its abort listener once ended, so a long-lived signal does not keep the stream', async () => {
    const controller = new AbortController()
    const { frames } = source(['a'])
    const { calls, hooks: h } = hooks()
    const reader = new FrameSource(frames, h, controller.signal).toWebStream().getReader()
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    await readAll(reader)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    controller.abort()
    await settle()
    expect(calls).toEqual({ ends: [false], stops: 0 })
  })
})

describe('FrameSource as a web stream: no read-ahead (highWaterMark 0)', () => {
  it('asks the source for nothing until the first read, then for one chunk per read', async () => {
    const { frames, seen } = source(['a', 'b', 'c', 'd'])
    const { hooks: h } = hooks()
    const reader = new FrameSource(frames, h).toWebStream().getReader()
    await settle()
    expect(seen.started).toBe(false)
    for (const expected of ['a', 'b', 'c']) {
      expect(decoder.decode((await reader.read()).value)).toBe(expected)
      await settle()
      expect(seen.pulled).toBe(expected.charCodeAt(0) - 'a'.charCodeAt(0) + 1)
    }
  })

  it('keeps each chunk as the source gave it (no merging or splitting)', async () => {
    const { frames } = source(['data: 1\n\n', 'data: 2\n\ndata: 3\n\n'])
    const { hooks: h } = hooks()
    const reader = new FrameSource(frames, h).toWebStream().getReader()
    const chunks: string[] = []
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(decoder.decode(r.value))
    expect(chunks).toEqual(['data: 1\n\n', 'data: 2\n\ndata: 3\n\n'])
  })
})
