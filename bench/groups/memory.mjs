// Group `memory`: 64 requests sent at once, each naming an 8 MiB image URL, against a gateway whose
// images.maxInFlightBytes is set; peak RSS against idle RSS plus what the cap lets in at once.
// Then chunked uploads: 20 bodies of 30 MiB sent at once with no Content-Length, so the gateway
// learns each one's size only by reading it; peak RSS against one such body sent alone.
// A fixed amount of work (not BENCH_SECONDS): every request is waited for, whatever its answer.
import { LARGE_WORK_BYTES } from '../../dist/lib/work-gate.js'
import { bodies, chunked, textFilling } from '../lib/bodies.mjs'
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

const UPLOADS = 20
const UPLOAD_BYTES = 30 * MiB

export const UPLOAD_SETUP = { uploads: UPLOADS, bodyMiB: UPLOAD_BYTES / MiB, readBeforeTurnMiB: LARGE_WORK_BYTES / MiB }

/**
 * One chunked body alone, then UPLOADS of them at once, each against a gateway of its own (peak RSS
 * is a process's lifetime high). A chunked body is read up to LARGE_WORK_BYTES, then waits unread
 * for its turn at the large-work gate (server.largeWorkConcurrency, 1 by default). So the bound is
 * idle + what one body costs alone + what each of the others reads before its turn + 64 MiB. For
 * contrast, the same burst with the gate opened to all of them: every body is read at once.
 */
export async function runChunkedUploads(servers) {
  const body = chunked(textFilling(UPLOAD_BYTES))
  const peakOf = async (count, server = {}) => {
    const gateway = await startGateway({ upstreamPort: servers.upstream.port, server })
    try {
      const idle = memoryMiB(gateway.pid).rss
      const result = await burst({ port: gateway.port, body, count })
      return { idle, peak: memoryMiB(gateway.pid).hwm, ...result }
    } finally {
      await gateway.stop()
    }
  }
  const alone = await peakOf(1)
  const together = await peakOf(UPLOADS)
  const ungated = await peakOf(UPLOADS, { largeWorkConcurrency: UPLOADS })
  const limitMiB = together.idle + (alone.peak - alone.idle) + UPLOADS * UPLOAD_SETUP.readBeforeTurnMiB + 64
  const added = (m) => `+${(m.peak - m.idle).toFixed(0)} MiB`
  console.log(
    `chunked uploads: one alone ${added(alone)}; ${UPLOADS} at once ${added(together)} (bound +${(limitMiB - together.idle).toFixed(0)}); the gate open to all ${added(ungated)}`,
  )
  return { alone, together, ungated, limitMiB }
}
