// The performance issue's targets, checked against a run's results: [target, measured, met].
import { MEMORY_SETUP, UPLOAD_SETUP } from '../groups/memory.mjs'
import { peersTarget } from './peers-report.mjs'

const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')

/** Every target of the performance issue that this run measured: [target, measured, met]. */
export function targets(r) {
  const out = []
  const byId = Object.fromEntries([...(r.text ?? []), ...(r.images ?? [])].map((row) => [row.id, row]))
  const ratio = (row) => row.gateway.rps / row[row.floor].rps
  const cpuRatio = (row) => row.gateway.cpuPerReq / row[row.floor].cpuPerReq
  const vsParsing = (row) => `(parsing floor: ${f(row.gateway.rps / row.parsing.rps)}x)`
  const throughput = (id, label, min) => {
    const row = byId[id]
    if (row) out.push([`${label} >= ${min}x the faster floor`, `${f(ratio(row))}x ${vsParsing(row)}`, ratio(row) >= min])
  }
  const cpu = (id, label, max) => {
    const row = byId[id]
    if (row) out.push([`${label} CPU/request <= ${max}x the floor`, `${f(cpuRatio(row))}x (${row.floor})`, cpuRatio(row) <= max])
  }
  throughput('text', 'text throughput', 0.5)
  cpu('text', 'text', 2)
  cpu('text4k', '4 KB prompt', 3)
  throughput('stream', 'stream throughput', 0.7)
  throughput('stream64', 'stream throughput, 64 tokens written one at a time', 0.7)
  if (byId.stream) {
    const u = byId.stream.unloaded
    const added = u.gateway.ttfb50 - u.direct.ttfb50
    out.push(['stream: unloaded time to first byte added (p50) <= 0.3 ms', `${f(added, 3)} ms`, added <= 0.3])
  }
  throughput('image100k', '100 KiB image', 0.8)
  throughput('image1m', '1 MiB image', 0.8)
  throughput('cache', 'cache hit', 1.0)
  if (r.openloop) {
    const added = r.openloop.gateway.p99 - r.openloop.direct.p99
    // Both p99s are shown: "added" is a difference of two noisy figures, and can come out below zero.
    const p99s = `gateway ${f(r.openloop.gateway.p99)} ms, backend alone ${f(r.openloop.direct.p99)} ms`
    out.push([`open loop ${r.openloop.rate} req/s: p99 added over the backend <= 1 ms`, `${f(added)} ms (p99 ${p99s})`, added <= 1])
  }
  const capped = r.memory?.find((m) => m.target)
  if (capped) {
    out.push([
      `${MEMORY_SETUP.connections} x ${MEMORY_SETUP.imageMiB} MiB images: peak RSS <= idle + effective cap + 64 MiB`,
      `${f(capped.peak, 0)} MiB vs ${f(capped.limitMiB, 0)} MiB`,
      capped.peak <= capped.limitMiB,
    ])
  }
  if (r.uploads) {
    const { uploads, bodyMiB, readBeforeTurnMiB } = UPLOAD_SETUP
    out.push([
      `${uploads} chunked ${bodyMiB} MiB bodies at once: peak RSS <= idle + what ${uploads} cost one after another + ${uploads} x ${readBeforeTurnMiB} MiB + 64 MiB`,
      `${f(r.uploads.together.peak, 0)} MiB vs ${f(r.uploads.limitMiB, 0)} MiB`,
      r.uploads.together.peak <= r.uploads.limitMiB,
    ])
  }
  if (r.noisy) {
    const n = r.noisy
    out.push([
      'noisy neighbour: small client chat p99 within 2x unloaded',
      `${f(n.loaded.chat.p99 / n.unloaded.chat.p99)}x${
        n.floors
          ? ` (${f(n.loaded.chat.p99)} ms; under the same noise the thin floor's p99 is ${f(n.floors.thin.loaded.p99)} ms, ${f(n.floors.thin.loaded.p99 / n.floors.thin.unloaded.p99)}x its own, the parsing floor's ${f(n.floors.parsing.loaded.p99)} ms)`
          : ''
      }`,
      n.loaded.chat.p99 <= 2 * n.unloaded.chat.p99,
    ])
    out.push(['noisy neighbour: health p99 under 50 ms', `${f(n.loaded.health.p99)} ms`, n.loaded.health.p99 < 50])
    out.push(['noisy neighbour: peak RSS under idle + 1 GiB', `+${f(n.peak - n.idle, 0)} MiB`, n.peak - n.idle < 1024])
  }
  if (r.replicas) {
    const mem = r.replicas.find((x) => x.replicas === 1 && x.store === 'in-memory')
    const red = r.replicas.find((x) => x.replicas === 1 && x.store === 'redis')
    if (mem && red)
      out.push(['Redis-backed throughput per replica >= 0.8x in-memory', `${f(red.rps / mem.rps)}x`, red.rps / mem.rps >= 0.8])
  }
  if (r.peers) out.push(peersTarget(r.peers))
  return out
}
