// Group `memory`: 64 requests sent at once, each naming an 8 MiB image URL, against a gateway whose
// images.maxInFlightBytes is set; peak RSS against idle RSS plus what the cap lets in at once.
// Then chunked uploads: 20 bodies of 30 MiB sent at once with no Content-Length, so the gateway
// learns each one's size only by reading it; peak RSS against the same bodies sent one after another.
// A fixed amount of work (not BENCH_SECONDS): every request is waited for, whatever its answer.
import { LARGE_WORK_BYTES } from '../../dist/lib/work-gate.js'
import { backendImageUrl, bodies, chunked, textFilling } from '../lib/bodies.mjs'
import { burst, mergeStatuses } from '../lib/measure.mjs'
import { memoryMiB, startGateway } from '../lib/processes.mjs'

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
  const rows = []
  for (const cap of CAPS) {
    const gateway = await startGateway({ upstreamPort: servers.upstream.port, images: { maxInFlightBytes: cap.bytes } })
    try {
      const idle = memoryMiB(gateway.pid).rss
      const body = bodies.imageUrl(backendImageUrl(servers.upstream, IMAGE_BYTES))
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
  return rows
}

const UPLOADS = 20
const UPLOAD_BYTES = 30 * MiB

export const UPLOAD_SETUP = { uploads: UPLOADS, bodyMiB: UPLOAD_BYTES / MiB, readBeforeTurnMiB: LARGE_WORK_BYTES / MiB }

/**
 * UPLOADS chunked bodies sent one after another, then all at once, each against a gateway of its own
 * (peak RSS is a process's lifetime high). A chunked body is read up to LARGE_WORK_BYTES, then waits
 * unread for its turn at the large-work gate (server.largeWorkConcurrency, 1 by default), so at once
 * should cost what one after another costs, plus what each of the others reads before its turn,
 * plus 64 MiB. The baseline is the same bodies one after another, not one body alone: a body's
 * buffers are freed by a garbage collection some time after it is answered, so serving bodies in
 * turn holds more than one of them, whether they arrive together or not (one alone +74..115 MiB,
 * one after another +141..175 MiB, measured). One alone is still reported; for contrast, the burst
 * with the gate opened to all of them: every body is read at once.
 */
export async function runChunkedUploads(servers) {
  const body = chunked(textFilling(UPLOAD_BYTES))
  const peakOf = async ({ count, inTurn = false, server = {} }) => {
    const gateway = await startGateway({ upstreamPort: servers.upstream.port, server })
    try {
      const idle = memoryMiB(gateway.pid).rss
      const result = inTurn ? await oneAfterAnother(gateway.port, body, count) : await burst({ port: gateway.port, body, count })
      return { idle, peak: memoryMiB(gateway.pid).hwm, ...result }
    } finally {
      await gateway.stop()
    }
  }
  const alone = await peakOf({ count: 1 })
  const inTurn = await peakOf({ count: UPLOADS, inTurn: true })
  const together = await peakOf({ count: UPLOADS })
  const ungated = await peakOf({ count: UPLOADS, server: { largeWorkConcurrency: UPLOADS } })
  const limitMiB = together.idle + (inTurn.peak - inTurn.idle) + UPLOADS * UPLOAD_SETUP.readBeforeTurnMiB + 64
  const added = (m) => `+${(m.peak - m.idle).toFixed(0)} MiB`
  console.log(
    `chunked uploads: one alone ${added(alone)}; ${UPLOADS} one after another ${added(inTurn)}; at once ${added(together)} (bound +${(limitMiB - together.idle).toFixed(0)}); the gate open to all ${added(ungated)}`,
  )
  return { alone, inTurn, together, ungated, limitMiB }
}

/** `count` bodies, each sent when the one before is answered; timed and counted as one burst. */
async function oneAfterAnother(port, body, count) {
  const runs = []
  for (let i = 0; i < count; i++) runs.push(await burst({ port, body, count: 1 }))
  return { seconds: runs.reduce((sum, r) => sum + r.seconds, 0), statuses: mergeStatuses(runs.map((r) => r.statuses)) }
}
