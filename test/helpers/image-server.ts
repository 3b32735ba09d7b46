import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { gif, jpeg, png, webpVp8l } from '../fixtures/images.js'

export type Route = (req: IncomingMessage, res: ServerResponse) => void

/** The host name tests give the image server; the LoopbackNetwork resolves it to 127.0.0.1. */
export const IMAGE_HOST = 'images.test'

/**
 * A real image host on 127.0.0.1, port 0. Serves the fixture images at /png, /jpeg, /webp, /gif;
 * tests add routes for redirects, slow and endless bodies. `hits` counts requests per path.
 */
export class ImageServer {
  readonly hits = new Map<string, number>()
  private readonly routes = new Map<string, Route>()
  private readonly sockets = new Set<Socket>()

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    server.on('request', (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/'
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1)
      const route = this.routes.get(path)
      if (route) route(req, res)
      else res.writeHead(404).end('not found')
    })
    this.image('/png', png(64, 48), 'image/png')
    this.image('/jpeg', jpeg(64, 48), 'image/jpeg')
    this.image('/webp', webpVp8l(64, 48), 'image/webp')
    this.image('/gif', gif(64, 48), 'image/gif')
  }

  static async start(): Promise<ImageServer> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return new ImageServer(server)
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port
  }

  /** `http://images.test:<port><path>`: the name the test network resolves to this server. */
  url(path: string): string {
    return `http://${IMAGE_HOST}:${this.port}${path}`
  }

  route(path: string, handler: Route): this {
    this.routes.set(path, handler)
    return this
  }

  image(path: string, bytes: Buffer, contentType = 'application/octet-stream'): this {
    return this.route(path, (_req, res) => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length })
      res.end(bytes)
    })
  }

  redirect(path: string, location: string, status = 302): this {
    return this.route(path, (_req, res) => res.writeHead(status, { location }).end())
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Config that trusts the test image host by name (the guard stays on for every other host). */
export function imageConfig(server: ImageServer, extra: Record<string, unknown> = {}) {
  return { fetch: { allowHosts: [IMAGE_HOST], allowedPorts: [80, 443, server.port], ...extra } }
}
