import { getEventListeners, once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { stepConfig } from '../../test/helpers/step-app.js'
import { readUpstreamBody, readUpstreamBodyNow } from '../upstream/read-body.js'
import { createUpstreamClient, type UpstreamClient, type UpstreamResponse } from './client.js'
import { CollectedBody, discardAnswerBody, NOT_ENDED, readAnswerBody, whenAnswerBodyEnds, WholeAnswerHandler } from './whole-answer.js'

// The real client against a real server on loopback: an answer read whole, cut off past its cap,
// broken off, or dropped when the client leaves.

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A backend on 127.0.0.1 that answers with `handler`; `sockets` are the connections it accepted, in order. */
async function backend(handler: Handler): Promise<{ client: UpstreamClient; sockets: Socket[]; requests: IncomingMessage[] }> {
  const sockets: Socket[] = []
  const requests: IncomingMessage[] = []
  const server: Server = createServer((req, res) => {
    requests.push(req)
    handler(req, res)
  })
  server.on('connection', (socket: Socket) => sockets.push(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const { port } = server.address() as AddressInfo
  const client = createUpstreamClient(stepConfig({ backends: { main: { baseUrl: `http://127.0.0.1:${port}/v1` } } }))
  cleanups.push(() => client.close())
  return { client, sockets, requests }
}

/** `client` (the client's leaving, as a ClientSignal) aborts when the client goes away. */
const post = (client: UpstreamClient, wholeAnswerMaxBytes: number | undefined, clientLeaves?: AbortController) =>
  client.send('main', {
    method: 'POST',
    path: '/chat/completions',
    body: '{"model":"m"}',
    wholeAnswerMaxBytes,
    ...(clientLeaves ? { signal: clientLeaves.signal } : {}),
  })

/** Resolves once `socket` has closed, reset or not (events.once would reject on the reset's error). */
const closed = (socket: Socket) => (socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', resolve)))

const abortListeners = (client: AbortController) => getEventListeners(client.signal, 'abort').length

/** Answers its head, then its body in `parts`, each written once the last has been flushed. */
const inParts =
  (parts: string[], headers: Record<string, string | string[]> = {}): Handler =>
  (req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', ...headers })
      const next = (i: number) => {
        if (i === parts.length) return void res.end()
        res.write(parts[i], () => next(i + 1))
      }
      next(0)
    })
  }

describe('an answer read whole', () => {
  it('collects a body sent in parts, with its status and headers as request() gives them', async () => {
    const { client } = await backend(inParts(['{"choices":', '[]', '}'], { 'x-one': 'a', 'set-cookie': ['b=1', 'c=2'] }))
    const res = await post(client, 1024)
    expect(res.body).toBeInstanceOf(CollectedBody)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    expect(res.headers['x-one']).toBe('a')
    expect(res.headers['set-cookie']).toEqual(['b=1', 'c=2'])
    expect((await readAnswerBody(res.body, 1024))?.toString()).toBe('{"choices":[]}')
  })

  it('is a stream when no cap is given (health probes, streamed completions)', async () => {
    const { client } = await backend(inParts(['{}']))
    const res = await post(client, undefined)
    expect(res.body).toBeInstanceOf(Readable)
    expect((await readAnswerBody(res.body, 1024))?.toString()).toBe('{}')
  })

  it('skips an informational (1xx) answer and waits for the real one', async () => {
    const { client } = await backend((req, res) => {
      res.writeEarlyHints({ link: '</x>; rel=preload' })
      inParts(['{"late":true}'])(req, res)
    })
    const res = await post(client, 1024)
    expect(res.status).toBe(200)
    expect((await readAnswerBody(res.body, 1024))?.toString()).toBe('{"late":true}')
  })

  it('is cut off as soon as it passes its cap: undefined, the rest unread, the connection dropped', async () => {
    let written = 0
    const { client, sockets } = await backend((req, res) => {
      req.resume()
      res.on('error', () => undefined) // the reset this test expects
      res.writeHead(200, { 'content-type': 'application/json' })
      // Writes on until its socket closes: far past the cap unless the gateway hangs up.
      const more = () => {
        if (res.destroyed || written > 64 * 1024 * 1024) return
        written += 64 * 1024
        res.write('x'.repeat(64 * 1024), more)
      }
      more()
    })
    const res = await post(client, 100 * 1024)
    expect(await readAnswerBody(res.body, 100 * 1024)).toBeUndefined()
    const [socket] = sockets
    await closed(socket!)
    expect(written).toBeLessThan(64 * 1024 * 1024)
    await expect(readUpstreamBody(res.body, 100 * 1024, 'main')).rejects.toMatchObject({ code: 'upstream_bad_response' })
  })

  it('rejects with the break when the backend resets its connection mid-body: a broken-off answer, not an unreachable backend', async () => {
    const { client } = await backend((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"choices":', () => res.socket?.resetAndDestroy())
    })
    const res = await post(client, 1024)
    await expect(readUpstreamBody(res.body, 1024, 'main')).rejects.toMatchObject({ code: 'upstream_stream_interrupted' })
  })

  it('drops the backend request when the client leaves before the answer starts', async () => {
    let arrived: (req: IncomingMessage) => void = () => undefined
    const request = new Promise<IncomingMessage>((resolve) => (arrived = resolve))
    const { client } = await backend((req) => arrived(req)) // and never answers
    const clientLeaves = new AbortController()
    const sent = post(client, 1024, clientLeaves)
    const { socket } = await request
    clientLeaves.abort()
    await expect(sent).rejects.toMatchObject({ cause: { code: 'UND_ERR_ABORTED' } })
    await closed(socket)
    expect(abortListeners(clientLeaves)).toBe(0)
  })

  it('drops the backend request when the client leaves mid-body, and the read rejects', async () => {
    const { client, sockets } = await backend((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"choices":') // and nothing more
    })
    const clientLeaves = new AbortController()
    const res = await post(client, 1024, clientLeaves)
    clientLeaves.abort()
    await expect(readAnswerBody(res.body, 1024)).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' })
    await closed(sockets[0]!)
    expect(abortListeners(clientLeaves)).toBe(0)
  })

  it('is never sent for a client that had already left', async () => {
    const { client, requests } = await backend(inParts(['{}']))
    const clientLeaves = new AbortController()
    clientLeaves.abort()
    await expect(post(client, 1024, clientLeaves)).rejects.toMatchObject({ cause: { code: 'UND_ERR_ABORTED' } })
    expect(requests).toHaveLength(0)
  })

  it('stops listening for the client once the answer is complete', async () => {
    const { client } = await backend(inParts(['{}']))
    const clientLeaves = new AbortController()
    const res = await post(client, 1024, clientLeaves)
    await readAnswerBody(res.body, 1024)
    expect(abortListeners(clientLeaves)).toBe(0)
  })

  it('when discarded, is still read to its end: the connection stays open for the next request', async () => {
    const { client, sockets } = await backend(inParts(['{"error":', '"busy"}']))
    const first = await post(client, 1024)
    discardAnswerBody(first.body)
    await new Promise<void>((resolve) => whenAnswerBodyEnds(first.body, resolve))
    expect(sockets[0]!.destroyed).toBe(false)
    expect((await readAnswerBody(first.body, 1024))?.toString()).toBe('')
  })
})

describe('CollectedBody', () => {
  const aborts: Error[] = []
  const body = (maxBytes = 10) => new CollectedBody(maxBytes, (reason) => aborts.push(reason))

  it('runs end listeners once, when it ends, and at once for one added after', () => {
    const collected = body()
    const ends: string[] = []
    whenAnswerBodyEnds(collected, () => ends.push('early'))
    expect(ends).toEqual([])
    collected.end({ kind: 'complete' })
    collected.end({ kind: 'failed', error: new Error('late') })
    whenAnswerBodyEnds(collected, () => ends.push('late'))
    expect(ends).toEqual(['early', 'late'])
  })

  it('keeps the first ending: an error after completion does not turn it into a failure', async () => {
    const collected = body()
    collected.arrived(Buffer.from('{}'))
    collected.end({ kind: 'complete' })
    collected.end({ kind: 'failed', error: new Error('late') })
    expect((await collected.bytes())?.toString()).toBe('{}')
  })

  it('reports a body past its cap as too large, not as the abort that followed it', async () => {
    aborts.length = 0
    const collected = body(4)
    collected.arrived(Buffer.from('abc'))
    collected.arrived(Buffer.from('de'))
    expect(aborts).toHaveLength(1)
    expect(aborts[0]!.message).toBe('The answer passed 4 bytes.')
    collected.end({ kind: 'failed', error: aborts[0]! })
    expect(await collected.bytes()).toBeUndefined()
  })

  it("is refused past a reader's maxBytes smaller than its own cap, as a stream would be", async () => {
    const collected = body(10)
    collected.arrived(Buffer.from('abcdef'))
    collected.end({ kind: 'complete' })
    expect(await readAnswerBody(collected, 5)).toBeUndefined()
    expect((await readAnswerBody(collected, 6))?.toString()).toBe('abcdef')
  })

  it('joins its chunks in order; exactly its cap is not past it', async () => {
    const collected = body(4)
    collected.arrived(Buffer.from('ab'))
    collected.arrived(Buffer.from('cd'))
    collected.end({ kind: 'complete' })
    expect((await collected.bytes())?.toString()).toBe('abcd')
  })

  it('lets every reader have the bytes, before and after it ends', async () => {
    const collected = body()
    const early = collected.bytes()
    collected.arrived(Buffer.from('ok'))
    collected.end({ kind: 'complete' })
    expect([(await early)?.toString(), (await collected.bytes())?.toString()]).toEqual(['ok', 'ok'])
  })

  it('reads as empty once discarded, however much had come: never memory it did not fill', async () => {
    const collected = body(4 * 1024 * 1024)
    collected.arrived(Buffer.alloc(2 * 1024 * 1024, 1))
    collected.discard()
    collected.arrived(Buffer.alloc(1024 * 1024, 2))
    collected.end({ kind: 'complete' })
    expect((await collected.bytes())?.length).toBe(0)
  })

  it('keeps nothing once discarded, and still counts toward its cap', async () => {
    aborts.length = 0
    const collected = body(4)
    collected.arrived(Buffer.from('ab'))
    collected.discard()
    collected.arrived(Buffer.from('cd'))
    collected.end({ kind: 'complete' })
    expect((await collected.bytes())?.toString()).toBe('')
    const capped = body(4)
    capped.discard()
    capped.arrived(Buffer.from('abcde'))
    expect(aborts).toHaveLength(1)
  })
})

describe('CollectedBody.bytesNow', () => {
  const body = (maxBytes = 10) => new CollectedBody(maxBytes, () => undefined)

  it('is NOT_ENDED until the body ends, then the one chunk as it came, not a copy', () => {
    const collected = body()
    const chunk = Buffer.from('{"a":1}')
    collected.arrived(chunk)
    expect(collected.bytesNow()).toBe(NOT_ENDED)
    collected.end({ kind: 'complete' })
    expect(collected.bytesNow()).toBe(chunk)
  })

  it('leaves a body of several chunks to bytes(), which joins them', async () => {
    const collected = body()
    collected.arrived(Buffer.from('ab'))
    collected.arrived(Buffer.from('cd'))
    collected.end({ kind: 'complete' })
    expect(collected.bytesNow()).toBe(NOT_ENDED)
    expect((await collected.bytes())?.toString()).toBe('abcd')
  })

  it("gives what bytes() gives for an empty body, one past its cap or a reader's maxBytes, and a broken one", async () => {
    const empty = body()
    empty.end({ kind: 'complete' })
    expect((empty.bytesNow() as Buffer).length).toBe(0)
    const capped = body(2)
    capped.arrived(Buffer.from('abc'))
    expect(capped.bytesNow()).toBeUndefined()
    const longer = body()
    longer.arrived(Buffer.from('abcdef'))
    longer.end({ kind: 'complete' })
    expect(longer.bytesNow(5)).toBeUndefined()
    expect(longer.bytesNow(6)?.toString()).toBe('abcdef')
    const broken = body()
    const error = new Error('reset')
    broken.end({ kind: 'failed', error })
    expect(() => broken.bytesNow()).toThrow(error)
    await expect(broken.bytes()).rejects.toBe(error)
  })

  it('reads as readUpstreamBody would: undefined until ended, a limit or a break as the gateway error a client gets', () => {
    const coming = body()
    expect(readUpstreamBodyNow(coming, 10, 'main')).toBeUndefined()
    expect(readUpstreamBodyNow(Readable.from([]), 10, 'main')).toBeUndefined()
    const whole = body()
    whole.arrived(Buffer.from('{}'))
    whole.end({ kind: 'complete' })
    expect(readUpstreamBodyNow(whole, 10, 'main')?.toString()).toBe('{}')
    expect(() => readUpstreamBodyNow(whole, 1, 'main')).toThrow(expect.objectContaining({ code: 'upstream_bad_response' }))
    const broken = body()
    broken.end({ kind: 'failed', error: Object.assign(new Error('socket hang up'), { code: 'UND_ERR_SOCKET' }) })
    expect(() => readUpstreamBodyNow(broken, 10, 'main')).toThrow(expect.objectContaining({ code: 'upstream_stream_interrupted' }))
  })
})

describe('WholeAnswerHandler', () => {
  it('stops a request body still being streamed when the request fails', () => {
    const requestBody = new Readable({ read() {} })
    const failures: Error[] = []
    const handler = new WholeAnswerHandler(
      10,
      null,
      requestBody,
      () => undefined,
      (err) => failures.push(err),
    )
    const broken = new Error('reset')
    handler.onResponseError(undefined as never, broken)
    expect(requestBody.destroyed).toBe(true)
    expect(failures).toEqual([broken])
  })

  it('fails the answer, not the request, once the answer has begun', async () => {
    const answers: UpstreamResponse[] = []
    const failures: Error[] = []
    const handler = new WholeAnswerHandler(
      10,
      null,
      null,
      (answer) => answers.push(answer),
      (err) => failures.push(err),
    )
    const controller = { abort: () => undefined } as never
    handler.onResponseStart(controller, 200, { 'content-type': 'application/json' })
    handler.onResponseData(controller, Buffer.from('{'))
    const broken = new Error('reset')
    handler.onResponseError(controller, broken)
    expect(failures).toEqual([])
    await expect(readAnswerBody(answers[0]!.body, 10)).rejects.toBe(broken)
  })
})
