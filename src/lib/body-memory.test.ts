import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { stepConfig } from '../../test/helpers/step-app.js'
import { createUpstreamClient, type UpstreamClient } from '../backends/client.js'
import type { RequestBody } from '../backends/request-body.js'
import { readAnswerBody } from '../backends/whole-answer.js'
import { pinBodyMemory, readingBodyMemory, RELEASED_BODY_BYTES, releaseBodyMemory, watchBodyMemory } from './body-memory.js'
import { allocWithSpareRoom } from './spare-room.js'

/** A JSON body just large enough to be given back. */
const largeJson = (fields: Record<string, unknown> = {}) => JSON.stringify({ ...fields, pad: 'x'.repeat(RELEASED_BODY_BYTES) })

/** A body as the gateway joins one: memory of its own, with spare room. */
function joinedBody(text: string = largeJson()): Buffer {
  const bytes = allocWithSpareRoom(Buffer.byteLength(text), 16)
  bytes.write(text)
  return bytes
}

const isGivenBack = (bytes: Buffer) => bytes.buffer.byteLength === 0

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function listening(server: Server | import('node:http').Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

function clientFor(port: number): UpstreamClient {
  const client = createUpstreamClient(stepConfig({ backends: { main: { baseUrl: `http://127.0.0.1:${port}/v1` } } }))
  cleanups.push(() => client.close())
  return client
}

/** A backend that reads each body whole, keeps it, and answers. */
async function readingBackend(): Promise<{ port: number; bodies: Buffer[] }> {
  const bodies: Buffer[] = []
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (part: Buffer) => parts.push(part))
    req.on('end', () => {
      bodies.push(Buffer.concat(parts))
      res.end('{}')
    })
  })
  return { port: await listening(server), bodies }
}

describe('body memory: given back at the end of its request', () => {
  it('gives back a joined body nothing was handed, once: its views read as empty after', () => {
    const bytes = joinedBody()
    watchBodyMemory(bytes)
    expect(releaseBodyMemory(bytes)).toBe(true)
    expect(isGivenBack(bytes)).toBe(true)
    expect(bytes.length).toBe(0)
    expect(releaseBodyMemory(bytes)).toBe(false)
  })

  it('leaves alone memory it was not asked to watch, and memory the gateway did not join itself (a pooled buffer, a socket read)', () => {
    const unwatched = joinedBody()
    expect(releaseBodyMemory(unwatched)).toBe(false)
    const pooled = Buffer.from('{"a":1}')
    const read = Buffer.from(largeJson())
    for (const bytes of [pooled, read]) {
      watchBodyMemory(bytes)
      expect(releaseBodyMemory(bytes)).toBe(false)
      expect(isGivenBack(bytes)).toBe(false)
    }
    expect(pooled.toString()).toBe('{"a":1}')
  })

  it('leaves a body smaller than RELEASED_BODY_BYTES to the collector', () => {
    const small = joinedBody(largeJson().slice(0, RELEASED_BODY_BYTES - 1))
    watchBodyMemory(small)
    expect(releaseBodyMemory(small)).toBe(false)
    const large = joinedBody(largeJson().slice(0, RELEASED_BODY_BYTES))
    watchBodyMemory(large)
    expect(releaseBodyMemory(large)).toBe(true)
  })

  it('gives back memory of its own without spare room (a downloaded image), but not while a reader is at work', () => {
    const bytes = allocWithSpareRoom(RELEASED_BODY_BYTES, 0).fill(7)
    watchBodyMemory(bytes)
    const encoderDone = readingBodyMemory(bytes.subarray(0, 3))
    const hashDone = readingBodyMemory(bytes)
    expect(releaseBodyMemory(bytes)).toBe(false)
    encoderDone()
    encoderDone() // a second call changes nothing: the hash still reads
    expect(releaseBodyMemory(bytes)).toBe(false)
    expect(bytes[0]).toBe(7)
    hashDone()
    expect(releaseBodyMemory(bytes)).toBe(true)
    expect(isGivenBack(bytes)).toBe(true)
    // A reader of memory nobody watches holds nothing up.
    const unwatched = Buffer.alloc(8)
    readingBodyMemory(unwatched)()
    expect(releaseBodyMemory(unwatched)).toBe(false)
  })

  it('hands memory given back to the next large body, out of reach of every view of the old one', () => {
    const text = largeJson({ secret: 'first request' })
    const first = joinedBody(text)
    const view = first.subarray(10, 40)
    watchBodyMemory(first)
    expect(releaseBodyMemory(first)).toBe(true)
    // The next body of about the same size gets that memory, uninitialised: the old bytes are still in it ...
    const next = allocWithSpareRoom(Buffer.byteLength(text) + 3, 16)
    expect(next.subarray(0, text.length).toString()).toBe(text)
    // ... and no view of the first body reads or sees what the next one writes.
    next.fill(0x61)
    expect([first.length, view.length, first.buffer.byteLength]).toEqual([0, 0, 0])
    expect(() => first.toString()).not.toThrow()
    expect(first.toString()).toBe('')
  })

  it('never gives back memory handed where no write is watched (a piece of a streamed body)', () => {
    const text = largeJson({ messages: [] })
    const bytes = joinedBody(text)
    watchBodyMemory(bytes)
    pinBodyMemory(bytes.subarray(2, 10))
    expect(releaseBodyMemory(bytes)).toBe(false)
    expect(bytes.toString()).toBe(text)
  })
})

describe('body memory: sent to a backend', () => {
  /** A large body, joined and watched, as readBody leaves one. */
  function watchedBody(text = largeJson({ model: 'm' })): { text: string; bytes: Buffer } {
    const bytes = joinedBody(text)
    watchBodyMemory(bytes)
    return { text, bytes }
  }

  /** Sends `body` and reads the answer to its end: whole, as a completion is read, unless `streamed`. */
  async function postAndDrain(client: UpstreamClient, body: RequestBody, answer: 'whole' | 'streamed' = 'whole') {
    const wholeAnswerMaxBytes = answer === 'whole' ? 1024 : undefined
    const res = await client.send('main', { method: 'POST', path: '/chat/completions', body, wholeAnswerMaxBytes })
    await readAnswerBody(res.body, 1024)
    return res
  }

  it.each(['whole', 'streamed'] as const)(
    'is given back once undici has written it and the socket has flushed; the backend got every byte (answer read %s)',
    async (answer) => {
      const backend = await readingBackend()
      const { text, bytes } = watchedBody()
      const sent = postAndDrain(clientFor(backend.port), bytes, answer)
      // Handed to undici, not yet written: no socket is known to have it.
      expect(releaseBodyMemory(bytes)).toBe(false)
      await sent
      expect(backend.bodies[0]?.toString()).toBe(text)
      expect(releaseBodyMemory(bytes)).toBe(true)
      expect(isGivenBack(bytes)).toBe(true)
    },
  )

  it('is not given back while the socket still writes it: a backend that answered without reading the body', async () => {
    let held: Socket | undefined
    const server = createTcpServer((socket) => {
      held = socket
      socket.once('data', () => {
        // Reads no more: the rest of the body stays in the gateway's socket, unwritten.
        socket.pause()
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}')
      })
    })
    const port = await listening(server)
    cleanups.push(() => void held?.destroy())
    // Far more than loopback's socket buffers on both sides take.
    const bytes = allocWithSpareRoom(64 * 1024 * 1024, 16).fill(0x20)
    watchBodyMemory(bytes)
    expect((await postAndDrain(clientFor(port), bytes)).status).toBe(200)
    expect(releaseBodyMemory(bytes)).toBe(false)
    expect(bytes.length).toBe(64 * 1024 * 1024)
  })

  it('is not given back when its pieces went out as a streamed body', async () => {
    const backend = await readingBackend()
    const { text, bytes } = watchedBody()
    const body = {
      length: bytes.length,
      async *chunks() {
        yield bytes.subarray(0, 100)
        yield bytes.subarray(100)
      },
    }
    await postAndDrain(clientFor(backend.port), body)
    expect(backend.bodies[0]?.toString()).toBe(text)
    expect(releaseBodyMemory(bytes)).toBe(false)
    expect(bytes.toString()).toBe(text)
  })

  it('is not given back when its request never reached a socket (nothing listening)', async () => {
    const server = createTcpServer()
    const port = await listening(server)
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const { bytes } = watchedBody()
    await expect(postAndDrain(clientFor(port), bytes)).rejects.toThrow()
    expect(releaseBodyMemory(bytes)).toBe(false)
  })
})
