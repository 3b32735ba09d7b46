// Group `memory`: 64 requests sent at once, each naming an 8 MiB image URL, against a gateway whose
// images.maxInFlightBytes is set; peak RSS against idle RSS plus what the cap lets in at once.
// A fixed amount of work (not BENCH_SECONDS): every request is waited for, whatever its answer.
import { bodies } from '../lib/bodies.mjs'
import { burst } from '../lib/measure.mjs'
import { forkServer, memoryMiB, startGateway } from '../lib/processes.mjs'

const MiB = 1024 * 1024
const IMAGE_BYTES = 8 * MiB
const CONNECTIONS = 64
/** What the gateway charges per image byte against maxInFlightBytes (src/images/resolve-images.ts). */
const MEMORY_PER_IMAGE_BYTE = 5

export const MEMORY_SETUP = { imageMiB: IMAGE_BYTES / MiB, connections: CONNECTIONS, perByte: MEMORY_PER_IMAGE_BYTE }

/** The cap under test, and a cap too large to bind, for contrast. */
const CAPS = [
  { label: 'maxInFlightBytes 128 MiB', bytes: 128 * MiB, target: true },
  { label: 'maxInFlightBytes 4 GiB (does not bind)', bytes: 4096 * MiB, target: false },
]

export async function runMemory(servers) {
  const imageHost = await forkServer('image-host.mjs', { IMAGE_BYTES: String(IMAGE_BYTES) })
  const rows = []
  try {
    for (const cap of CAPS) {
      const gateway = await startGateway({
        upstreamPort: servers.upstream.port,
        imagePort: imageHost.port,
        images: { maxInFlightBytes: cap.bytes },
      })
      try {
        const idle = memoryMiB(gateway.pid).rss
        const body = bodies.imageUrl(`http://127.0.0.1:${imageHost.port}/big.png`)
        const result = await burst({ port: gateway.port, body, count: CONNECTIONS })
        const peak = memoryMiB(gateway.pid).hwm
        // Each image is charged 5 x 8 MiB = 40 MiB, so the cap admits floor(cap / 40 MiB) images at
        // once (never fewer than one: maxBytesPerImage <= cap); what they are charged is the bound.
        const perImage = IMAGE_BYTES * MEMORY_PER_IMAGE_BYTE
        const atOnce = Math.min(CONNECTIONS, Math.max(1, Math.floor(cap.bytes / perImage)))
        const effectiveCapMiB = (atOnce * perImage) / MiB
        rows.push({ ...cap, idle, peak, atOnce, effectiveCapMiB, ...result, limitMiB: idle + effectiveCapMiB + 64 })
        console.log(`memory ${cap.label}: idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, ${atOnce} images at once`)
      } finally {
        await gateway.stop()
      }
    }
  } finally {
    await imageHost.stop()
  }
  return rows
}
