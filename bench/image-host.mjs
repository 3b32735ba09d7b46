// An image host for the memory benchmark: serves one large PNG-headed file at /big.png.
import { createServer } from 'node:http'

const size = Number(process.env.IMAGE_BYTES ?? 8 * 1024 * 1024)
const image = Buffer.alloc(size)
// A PNG signature and a 1024x1024 IHDR: the gateway reads the header only, so the rest can be zeros.
Buffer.from('89504e470d0a1a0a0000000d49484452000004000000040008020000', 'hex').copy(image)
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length })
  res.end(image)
})
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }))
// Forked by bench/run.mjs: when the run ends (or dies), so does this.
process.on('disconnect', () => process.exit(0))
