import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ChunkReader, END } from './chunk-reader.js'

/** A stream whose chunks the test pushes by hand; nothing is read from it unless asked. */
function manual(): Readable {
  return new Readable({ read() {} })
}

describe('ChunkReader', () => {
  it('gives what was buffered as one chunk, null while nothing has come, END after the end', async () => {
    const stream = manual()
    const reader = new ChunkReader(stream)
    expect(reader.read()).toBeNull()
    const woken = reader.readable()
    stream.push(Buffer.from('ab'))
    stream.push(Buffer.from('cd'))
    await woken
    expect(reader.read()?.toString()).toBe('abcd')
    expect(reader.read()).toBeNull()
    const ended = reader.readable()
    stream.push(null)
    await ended
    // 'readable' at the end of input comes first; 'end' once a read has found nothing left.
    let read = reader.read()
    while (read === null) {
      await reader.readable()
      read = reader.read()
    }
    expect(read).toBe(END)
  })

  it('asks the stream for nothing before the first read', async () => {
    let asked = 0
    const stream = new Readable({
      highWaterMark: 0,
      read() {
        asked++
        this.push(Buffer.from('x'))
      },
    })
    const reader = new ChunkReader(stream)
    await new Promise((resolve) => setImmediate(resolve))
    expect(asked).toBe(0)
    reader.read()
    await reader.readable()
    expect(asked).toBeGreaterThan(0)
  })

  it("throws the stream's error, and wakes a reader waiting for data", async () => {
    const stream = manual()
    const reader = new ChunkReader(stream)
    expect(reader.read()).toBeNull()
    const woken = reader.readable()
    stream.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
    await woken
    expect(() => reader.read()).toThrow(expect.objectContaining({ code: 'ECONNRESET' }))
  })

  it('throws a premature close for a stream closed before its end without an error', async () => {
    const stream = manual()
    const reader = new ChunkReader(stream)
    expect(reader.read()).toBeNull()
    const woken = reader.readable()
    stream.destroy()
    await woken
    expect(() => reader.read()).toThrow(expect.objectContaining({ code: 'ERR_STREAM_PREMATURE_CLOSE' }))
  })

  it('reads a stream that had already ended, or already failed, before the first read', async () => {
    const ended = Readable.from([])
    ended.resume()
    await new Promise((resolve) => ended.once('end', resolve))
    expect(new ChunkReader(ended).read()).toBe(END)

    const failed = manual()
    failed.on('error', () => undefined)
    failed.destroy(new Error('gone'))
    await new Promise((resolve) => failed.once('close', resolve))
    expect(() => new ChunkReader(failed).read()).toThrow('gone')
  })

  it('close() wakes a waiting reader, stops listening, and leaves later errors to no one', async () => {
    const stream = manual()
    const reader = new ChunkReader(stream)
    reader.read()
    const woken = reader.readable()
    reader.close()
    await woken
    expect(stream.listenerCount('readable')).toBe(0)
    expect(stream.listenerCount('end')).toBe(0)
    expect(stream.listenerCount('close')).toBe(0)
    // Destroying it with an error is not a crash: the error is expected by whoever ends the stream.
    stream.destroy(new Error('late'))
    await new Promise((resolve) => stream.once('close', resolve))
  })
})
