import { once } from 'node:events'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { settle } from '../../test/helpers/step-app.js'
import { turnsWhile } from '../../test/helpers/turns.js'
import { isOwnMemory, spareRoomOf } from './spare-room.js'
import { readCapped } from './read-capped.js'

const chunks = (...sizes: number[]) => sizes.map((n, i) => Buffer.alloc(n, i + 1))

describe('readCapped', () => {
  it('returns every byte, in order, up to and including the limit', async () => {
    const bytes = await readCapped(Readable.from(chunks(3, 4, 3)), 10)
    expect(bytes).toEqual(Buffer.concat(chunks(3, 4, 3)))
  })

  it('hands back a body that came in one chunk as that chunk, without copying it', async () => {
    const [only] = chunks(60_000)
    const bytes = await readCapped(Readable.from([only]), 60_000)
    expect(bytes?.buffer).toBe(only?.buffer)
    expect(bytes?.equals(only as Buffer)).toBe(true)
    const web = new Uint8Array([1, 2, 3])
    const fromWeb = await readCapped(new Blob([web]).stream(), 3)
    expect([...(fromWeb ?? [])]).toEqual([1, 2, 3])
    expect(Buffer.isBuffer(fromWeb)).toBe(true)
  })

  it('joins a body of several chunks with the spare bytes asked for on each side, unused; one chunk is used as it came', async () => {
    for (const source of [() => Readable.from(chunks(3, 4, 3)), () => new Blob([Buffer.alloc(3, 1), Buffer.alloc(4, 2)]).stream()]) {
      const none = await readCapped(source(), 10)
      expect(none && spareRoomOf(none)).toBe(0)
      const roomy = await readCapped(source(), 10, { spareBytes: 32 })
      expect(roomy && spareRoomOf(roomy)).toBe(32)
      expect([roomy?.byteOffset, roomy?.buffer.byteLength]).toEqual([32, 32 + (roomy?.length ?? 0) + 32])
      expect(roomy?.equals(none as Buffer)).toBe(true)
    }
    const [only] = chunks(60_000)
    const alone = await readCapped(Readable.from([only]), 60_000, { spareBytes: 32 })
    expect(alone?.buffer).toBe(only?.buffer)
    expect(alone && spareRoomOf(alone)).toBe(0)
  })

  it('joins a large body a megabyte at a time, giving the event loop back between steps', async () => {
    const parts = Array.from({ length: 48 }, (_, i) => Buffer.alloc(64 * 1024, i)) // 3 MiB
    // An async generator's chunks come in microtasks: every turn counted here is one the join gave back.
    const source = (async function* () {
      yield* parts
    })()
    const [bytes, turns] = await turnsWhile(() => readCapped(source, 3 * 1024 * 1024, { spareBytes: 16 }))
    expect(bytes?.equals(Buffer.concat(parts))).toBe(true)
    expect(turns).toBeGreaterThanOrEqual(2)
  })

  it('joins a body of several chunks into memory of its own when asked, even without spare room; one chunk is used as it came', async () => {
    const plain = await readCapped(Readable.from(chunks(3, 4, 3)), 10)
    expect(plain && isOwnMemory(plain)).toBe(false)
    const own = await readCapped(Readable.from(chunks(3, 4, 3)), 10, { ownMemory: true })
    expect(own && [isOwnMemory(own), spareRoomOf(own), own.byteOffset, own.buffer.byteLength]).toEqual([true, 0, 0, 10])
    expect(own?.equals(plain as Buffer)).toBe(true)
    const [only] = chunks(60_000)
    const alone = await readCapped(Readable.from([only]), 60_000, { ownMemory: true })
    expect(alone?.buffer).toBe(only?.buffer)
    expect(alone && isOwnMemory(alone)).toBe(false)
  })

  it('shows a body of several chunks to beforeJoin before joining it, and ends with its refusal', async () => {
    const seen: Array<[number[], number]> = []
    const look = (got: readonly Uint8Array[], size: number) => void seen.push([got.map((chunk) => chunk.byteLength), size])
    expect(await readCapped(Readable.from(chunks(3, 4, 3)), 10, { beforeJoin: look })).toEqual(Buffer.concat(chunks(3, 4, 3)))
    expect(await readCapped(Readable.from(chunks(5)), 10, { beforeJoin: look })).toEqual(Buffer.concat(chunks(5))) // one chunk: nothing to join
    expect(seen).toEqual([[[3, 4, 3], 10]])
    const refusal = new Error('refused')
    const refuse = async () => {
      await settle()
      throw refusal
    }
    await expect(readCapped(Readable.from(chunks(3, 4, 3)), 10, { beforeJoin: refuse, spareBytes: 8 })).rejects.toBe(refusal)
  })

  it('gives undefined one byte past the limit, and stops reading there', async () => {
    let pulled = 0
    async function* source() {
      for (const chunk of chunks(4, 4, 4, 4)) {
        pulled++
        yield chunk
      }
    }
    expect(await readCapped(source(), 7)).toBeUndefined()
    expect(pulled).toBe(2)
  })

  it('destroys a Node stream it stops reading', async () => {
    const stream = Readable.from(chunks(8, 8, 8))
    expect(await readCapped(stream, 10)).toBeUndefined()
    expect(stream.destroyed).toBe(true)
  })

  it('reads a web stream and cancels it when over the limit', async () => {
    let cancelled = false
    const web = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(6)),
      cancel: () => {
        cancelled = true
      },
    })
    expect(await readCapped(web as unknown as AsyncIterable<Uint8Array>, 10)).toBeUndefined()
    expect(cancelled).toBe(true)
  })

  it('passes on an error of the source', async () => {
    async function* failing() {
      yield Buffer.alloc(1)
      throw new Error('socket reset')
    }
    await expect(readCapped(failing(), 10)).rejects.toThrow('socket reset')
  })

  it('passes on an error a Node stream emits', async () => {
    const stream = new Readable({ read() {} })
    stream.push(Buffer.alloc(1))
    const read = readCapped(stream, 10)
    stream.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
    await expect(read).rejects.toMatchObject({ code: 'ECONNRESET' })
  })

  it('rejects a Node stream that closes without its end, as a premature close', async () => {
    const stream = new Readable({ read() {} })
    stream.push(Buffer.alloc(1))
    const read = readCapped(stream, 10)
    stream.destroy()
    await expect(read).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' })
  })

  it('leaves no listener on a Node stream it has read, nor on one it refused, nor on one that failed', async () => {
    const events = ['data', 'end', 'error', 'close'] as const
    const counts = (stream: Readable) => events.map((event) => stream.listenerCount(event))
    const read = Readable.from(chunks(2, 2))
    const before = counts(read)
    await readCapped(read, 10)
    expect(counts(read)).toEqual(before)
    const refused = new Readable({ read() {} })
    refused.push(Buffer.alloc(11))
    expect(await readCapped(refused, 10)).toBeUndefined()
    expect(refused.listenerCount('data')).toBe(0)
    expect(refused.destroyed).toBe(true)
    const failed = new Readable({ read() {} })
    const reading = readCapped(failed, 10)
    failed.destroy(new Error('boom'))
    await expect(reading).rejects.toThrow('boom')
    expect(counts(failed)).toEqual([0, 0, 0, 0])
  })

  it('settles at once for a stream already ended or destroyed: it never waits for events that have come and gone', async () => {
    const ended = Readable.from([])
    ended.resume()
    await once(ended, 'end')
    expect(await readCapped(ended, 10)).toEqual(Buffer.alloc(0))
    const closed = new Readable({ read() {} })
    closed.destroy()
    await once(closed, 'close')
    await expect(readCapped(closed, 10)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' })
    const failed = new Readable({ read() {} })
    failed.on('error', () => {})
    failed.destroy(new Error('reset'))
    await new Promise((resolve) => failed.once('close', resolve)) // once() would reject on the error
    await expect(readCapped(failed, 10)).rejects.toThrow('reset')
  })

  it('returns an empty buffer for an empty source', async () => {
    expect(await readCapped(Readable.from([]), 10)).toEqual(Buffer.alloc(0))
  })
})

describe('readCapped: a pause', () => {
  /** The same four 4-byte chunks as a Node stream and as an async iterable, each counting the chunks asked of it. */
  const sources = {
    'a Node stream': () => {
      const parts = chunks(4, 4, 4, 4)
      const counted = { pulled: 0, source: undefined as unknown as AsyncIterable<Uint8Array> }
      // No read-ahead: a chunk is made only when the reader asks for one.
      counted.source = new Readable({
        highWaterMark: 0,
        read() {
          counted.pulled++
          this.push(parts.shift() ?? null)
        },
      })
      return counted
    },
    'an async iterable': () => {
      const counted = { pulled: 0, source: undefined as unknown as AsyncIterable<Uint8Array> }
      counted.source = (async function* () {
        for (const chunk of chunks(4, 4, 4, 4)) {
          counted.pulled++
          yield chunk
        }
      })()
      return counted
    },
  }

  it.each(Object.entries(sources))(
    'reads %s no further once past `afterBytes` until `until()` settles, then reads the rest',
    async (_kind, make) => {
      const counted = make()
      let open!: () => void
      let asked = 0
      const until = () => {
        asked++
        return new Promise<void>((resolve) => (open = resolve))
      }
      const read = readCapped(counted.source, 100, { pause: { afterBytes: 5, until } })
      await settle()
      expect([counted.pulled, asked]).toEqual([2, 1])
      open()
      expect(await read).toEqual(Buffer.concat(chunks(4, 4, 4, 4)))
      expect(asked).toBe(1)
    },
  )

  it.each(Object.entries(sources))('ends the read of %s with the error `until()` rejects with, the rest unread', async (_kind, make) => {
    const counted = make()
    const read = readCapped(counted.source, 100, { pause: { afterBytes: 5, until: () => Promise.reject(new Error('no turn')) } })
    await expect(read).rejects.toThrow('no turn')
    expect(counted.pulled).toBe(2)
  })

  it('never pauses a source that ends within `afterBytes`', async () => {
    let asked = 0
    const until = () => {
      asked++
      return Promise.resolve()
    }
    expect(await readCapped(Readable.from(chunks(4, 4)), 100, { pause: { afterBytes: 8, until } })).toEqual(Buffer.concat(chunks(4, 4)))
    expect(asked).toBe(0)
  })
})
