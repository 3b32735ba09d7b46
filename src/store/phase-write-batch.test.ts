import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { PhaseWriteBatch } from './phase-write-batch.js'

/** A writable that records each write it is handed: one entry per system call a socket would make. */
function recordingSocket() {
  const writes: string[][] = []
  const socket = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push([chunk.toString()])
      done()
    },
    writev(chunks, done) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()))
      done()
    },
  })
  return { socket, writes }
}

const phaseEnd = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('PhaseWriteBatch', () => {
  it('sends the writes of one phase as one write, once the phase is over', async () => {
    const { socket, writes } = recordingSocket()
    const batch = new PhaseWriteBatch(() => [socket])
    for (const command of ['a', 'b', 'c']) {
      void batch.hold()
      socket.write(command)
    }
    expect(writes).toEqual([])
    await phaseEnd()
    expect(writes).toEqual([['a', 'b', 'c']])
    expect(socket.writableCorked).toBe(0)
  })

  it('holds each phase on its own: a later phase is neither merged nor left corked', async () => {
    const { socket, writes } = recordingSocket()
    const batch = new PhaseWriteBatch(() => [socket])
    void batch.hold()
    socket.write('first')
    await phaseEnd()
    void batch.hold()
    socket.write('second')
    void batch.hold()
    socket.write('third')
    await phaseEnd()
    expect(writes).toEqual([['first'], ['second', 'third']])
    expect(socket.writableCorked).toBe(0)
  })

  it('corks every node of a cluster, and skips a node not connected or no longer writable', async () => {
    const a = recordingSocket()
    const b = recordingSocket()
    const closed = recordingSocket()
    closed.socket.destroy()
    const batch = new PhaseWriteBatch(() => [a.socket, undefined, closed.socket, b.socket])
    void batch.hold()
    a.socket.write('1')
    a.socket.write('2')
    b.socket.write('3')
    b.socket.write('4')
    expect([a.writes, b.writes]).toEqual([[], []])
    expect(closed.socket.writableCorked).toBe(0)
    await phaseEnd()
    expect([a.writes, b.writes]).toEqual([[['1', '2']], [['3', '4']]])
  })

  it('corks nothing while no socket is writable, and corks the one that connects later', async () => {
    let sockets: Writable[] = []
    const batch = new PhaseWriteBatch(() => sockets)
    expect(batch.hold()).toBeUndefined()
    const { socket, writes } = recordingSocket()
    sockets = [socket]
    expect(batch.hold()).toBeInstanceOf(Promise)
    socket.write('x')
    socket.write('y')
    expect(writes).toEqual([])
    await phaseEnd()
    expect(writes).toEqual([['x', 'y']])
  })

  it("tells each call of a phase when the phase's writes have left", async () => {
    const { socket, writes } = recordingSocket()
    const batch = new PhaseWriteBatch(() => [socket])
    const first = batch.hold()
    socket.write('a')
    const second = batch.hold()
    socket.write('b')
    expect(second).toBe(first)
    let leftWith: string[][] = []
    void first?.then(() => (leftWith = writes.map((w) => [...w])))
    await phaseEnd()
    await first
    expect(leftWith).toEqual([['a', 'b']])
    expect(batch.hold()).not.toBe(first)
  })
})
