// The noisy neighbour's load, in a process of its own so that its work never delays the measuring
// client's event loop: NOISY_CLIENTS connections each send maximum-size bodies to the gateway in a
// loop (the kinds taking turns, each client starting at a different one), until told to stop.
// Forked by bench/groups/noisy.mjs; reports what it sent and what came back over IPC.
import { Client } from 'undici'
import { noisyBodies } from './lib/bodies.mjs'
import { KEY } from './lib/processes.mjs'

const port = Number(process.env.NOISY_PORT)
const clients = Number(process.env.NOISY_CLIENTS ?? 8)
const kinds = noisyBodies({
  bodyLimitBytes: Number(process.env.NOISY_BODY_LIMIT),
  maxBytesPerImage: Number(process.env.NOISY_MAX_IMAGE),
})
const stats = kinds.map((k) => ({ name: k.name, sent: 0, statuses: {}, errors: 0, totalMs: 0 }))
let stopping = false

async function loop(index) {
  const client = new Client(`http://127.0.0.1:${port}`, { keepAliveTimeout: 60_000, bodyTimeout: 120_000, headersTimeout: 120_000 })
  for (let turn = index; !stopping; turn++) {
    const k = turn % kinds.length
    const start = performance.now()
    try {
      const { statusCode, body } = await client.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: kinds[k].body,
      })
      for await (const _chunk of body); // read to the last byte
      stats[k].statuses[statusCode] = (stats[k].statuses[statusCode] ?? 0) + 1
    } catch {
      stats[k].errors++
    }
    stats[k].sent++
    stats[k].totalMs += performance.now() - start
  }
  await client.close()
}

const loops = Array.from({ length: clients }, (_, i) => loop(i))
process.on('message', async (m) => {
  if (m !== 'stop') return
  stopping = true
  await Promise.all(loops)
  process.send({ stats }, () => process.exit(0))
})
process.on('disconnect', () => process.exit(0))
process.send({ port: 0 }) // started (the shape forkServer waits for)
