// BENCHMARKS.md's peers section and target, from bench/groups/peers.mjs's results.
import { statusText } from './measure.mjs'

const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')

/** A peer that answered fewer than half of its requests with a 2xx does not serve that scenario. */
const serves = (side) => side.ok > 0 && side.errors < side.ok

export function peersSection(p) {
  return [
    '## Peers',
    '',
    `The gateway against ${p.peer} (npm \`@portkey-ai/gateway\`, its Node server in production mode, Node ${p.node}), the`,
    'two taking turns, medians of two measurements each, every other setting as above. Portkey runs as it starts: it routes by',
    'its `x-portkey-provider` and `x-portkey-custom-host` headers, keeps no cache without Redis (so an identical request is',
    'forwarded) and counts no tokens. The gateway does all that the sections above say.',
    '',
    `| scenario | gateway req/s | gateway CPU ms/req | ${p.peer} req/s | ${p.peer} CPU ms/req | gateway / peer req/s | peer answers other than 2xx |`,
    '|---|---|---|---|---|---|---|',
    ...p.rows.map((row) => {
      const g = row.gateway
      const peer = row.peer
      const ratio = serves(peer) ? `**${f(g.rps / peer.rps)}**` : '- (the peer failed)'
      return `| ${row.name} | ${f(g.rps, 0)} | ${f(g.cpuPerReq, 3)} | ${f(peer.rps, 0)} | ${f(peer.cpuPerReq, 3)} | ${ratio} | ${statusText(peer.statuses)} |`
    }),
    '',
  ]
}

/** The "ahead of every peer": more requests a second than the peer in every scenario the peer serves. */
export function peersTarget(p) {
  const served = p.rows.filter((row) => serves(row.peer))
  const failed = p.rows.filter((row) => !serves(row.peer))
  const ratios = served.map((row) => `${row.id} ${f(row.gateway.rps / row.peer.rps)}x`).join(', ')
  const note = failed.length ? `; ${p.peer} failed ${failed.map((row) => row.id).join(', ')}` : ''
  return [`ahead of every peer: throughput above ${p.peer}'s`, `${ratios}${note}`, served.every((row) => row.gateway.rps > row.peer.rps)]
}
