import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { stopWhenDone } from './cleanup.js'

/**
 * A TCP proxy on 127.0.0.1 in front of one target, with the network faults a process signal cannot
 * give: latency, a stalled link (the server itself keeps running), connections reset mid-flight,
 * and new connections turned away. Data is buffered without bound: test traffic is small.
 */
export type TcpProxy = {
  readonly port: number
  /** `redis://127.0.0.1:<port>` by default; `url('http')` for an HTTP target. */
  url(scheme?: string): string
  /** Connections accepted so far (a reconnect shows as one more). */
  readonly accepted: number
  /** Hold every chunk, in both directions, this long before forwarding it (0: forward at once). */
  delay(ms: number): void
  /** Stop forwarding in both directions and buffer, on current and new connections, until `resume()`. */
  pause(): void
  /** Forward everything held, in order, and carry on. */
  resume(): void
  /** Resolves once some bytes are being held (at once if some already are): "the request is stuck in the proxy". */
  held(): Promise<void>
  /** Reset every current connection (RST to both ends); later connections are proxied as usual. */
  cut(): void
  /** While on, new connections are reset as soon as they are accepted; current ones carry on. */
  refuse(on: boolean): void
  close(): Promise<void>
}

/**
 * One direction of one connection: chunks wait in order until due and not paused. A FIN from the
 * sender is passed on only after what it sent before: a reply followed by a close keeps its reply.
 */
type Lane = { queue: Array<{ chunk: Buffer; due: number }>; timer: NodeJS.Timeout | undefined; to: Socket; ended: boolean }

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1'
  const pairs = new Set<{ client: Socket; upstream: Socket; lanes: Lane[] }>()
  const heldWaiters: Array<() => void> = []
  let delayMs = 0
  let paused = false
  let refusing = false
  let accepted = 0

  const holding = () => [...pairs].some((pair) => pair.lanes.some((lane) => lane.queue.length > 0))
  const pump = (lane: Lane) => {
    clearTimeout(lane.timer)
    lane.timer = undefined
    if (paused) return
    const now = Date.now()
    while (lane.queue[0] && lane.queue[0].due <= now) lane.to.write(lane.queue.shift()!.chunk)
    const next = lane.queue[0]
    if (next) lane.timer = setTimeout(() => pump(lane), next.due - now)
    else if (lane.ended) lane.to.end()
  }
  const forward = (from: Socket, lane: Lane) => {
    from.on('data', (chunk: Buffer) => {
      lane.queue.push({ chunk, due: Date.now() + delayMs })
      pump(lane)
      if (lane.queue.length > 0) for (const wake of heldWaiters.splice(0)) wake()
    })
    from.on('end', () => {
      lane.ended = true
      pump(lane)
    })
  }

  // Half-open allowed: each direction ends on its own (see Lane).
  const server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++
    if (refusing) {
      client.on('error', () => undefined).resetAndDestroy()
      return
    }
    const upstream = connect({ host, port: target.port, allowHalfOpen: true })
    const lanes: Lane[] = [
      { queue: [], timer: undefined, to: upstream, ended: false },
      { queue: [], timer: undefined, to: client, ended: false },
    ]
    const pair = { client, upstream, lanes }
    pairs.add(pair)
    forward(client, lanes[0]!)
    forward(upstream, lanes[1]!)
    // An end that fails (reset, refused, destroyed) takes the other with it, the way a dead link
    // would; such errors are the expected outcome of the faults this proxy makes. An end that
    // closed cleanly has already had its FIN passed on by its lane.
    const ends = [
      { socket: client, other: upstream, lane: lanes[0]! },
      { socket: upstream, other: client, lane: lanes[1]! },
    ]
    for (const { socket, other, lane } of ends) {
      socket.on('error', () => other.destroy())
      socket.on('close', () => {
        if (!lane.ended) other.destroy()
        if (client.destroyed && upstream.destroyed) {
          pairs.delete(pair)
          for (const l of lanes) clearTimeout(l.timer)
        }
      })
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  const resetAll = () => {
    for (const { client, upstream } of [...pairs]) {
      client.resetAndDestroy()
      upstream.resetAndDestroy()
    }
  }
  let closed = false
  const proxy: TcpProxy = {
    port,
    url: (scheme = 'redis') => `${scheme}://127.0.0.1:${port}`,
    get accepted() {
      return accepted
    },
    delay(ms) {
      delayMs = ms
    },
    pause() {
      paused = true
    },
    resume() {
      paused = false
      for (const pair of pairs) for (const lane of pair.lanes) pump(lane)
    },
    held: () => (holding() ? Promise.resolve() : new Promise<void>((resolve) => heldWaiters.push(resolve))),
    cut: resetAll,
    refuse(on) {
      refusing = on
    },
    async close() {
      if (closed) return
      closed = true
      resetAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  stopWhenDone(() => proxy.close())
  return proxy
}
