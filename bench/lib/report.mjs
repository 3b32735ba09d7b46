// BENCHMARKS.md from the results of a run: how it was measured, the targets met or not, then one
// table per group. Only the groups that ran appear.
import { cpus } from 'node:os'
import { CONNECTIONS, SECONDS, statusText } from './measure.mjs'
import { MEMORY_SETUP, UPLOAD_SETUP } from '../groups/memory.mjs'
import { capacitySection } from './capacity.mjs'
import { NOISY_CLIENTS, NOISY_LIMITS, NOISY_WARM_SECONDS } from '../groups/noisy.mjs'
import { CLK_TCK, GATEWAY_NODE_FLAGS } from './processes.mjs'
import { peersSection } from './peers-report.mjs'
import { targets } from './targets.mjs'

const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')
const pct = (share) => `${f(100 * share, 0)}%`
const FLOOR_NAME = { thin: 'thin', parsing: 'parsing' }
const pair = (a, b, d = 2) => `${f(a, d)} / ${f(b, d)}`
const met = (ok) => (ok ? 'met' : '**not met**')
/** Per server, only those that had any: "gateway 503: 2". */
const errorsBy = (row, names) =>
  names
    .filter((name) => row[name]?.errors)
    .map((name) => `${name} ${statusText(row[name].statuses)}`)
    .join('; ') || '0'

function throughputTable(rows) {
  return [
    '| scenario | floor used | floor req/s | gateway req/s | ratio | floor CPU ms/req | gateway CPU ms/req | CPU ratio | floor p50 / p99 ms | gateway p50 / p99 ms | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => {
      const b = row[row.floor]
      const g = row.gateway
      return `| ${row.name} | ${FLOOR_NAME[row.floor]} | ${f(b.rps, 0)} | ${f(g.rps, 0)} | **${f(g.rps / b.rps)}** | ${f(b.cpuPerReq, 3)} | ${f(g.cpuPerReq, 3)} | **${f(g.cpuPerReq / b.cpuPerReq)}** | ${pair(b.p50, b.p99)} | ${pair(g.p50, g.p99)} | ${errorsBy(row, ['thin', 'parsing', 'gateway'])} |`
    }),
  ]
}

function floorsTable(rows) {
  return [
    '| scenario | thin req/s | thin CPU ms/req | parsing req/s | parsing CPU ms/req | gateway / parsing req/s | gateway / parsing CPU |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.name} | ${f(row.thin.rps, 0)} | ${f(row.thin.cpuPerReq, 3)} | ${f(row.parsing.rps, 0)} | ${f(row.parsing.cpuPerReq, 3)} | ${f(row.gateway.rps / row.parsing.rps)} | ${f(row.gateway.cpuPerReq / row.parsing.cpuPerReq)} |`,
    ),
  ]
}

function unloadedTable(rows) {
  const added = (u, name, q) => u[name][q] - u.direct[q]
  return [
    '| scenario | backend direct p50 / p99 ms | thin added p50 / p99 ms | parsing added p50 / p99 ms | gateway added p50 / p99 ms | first byte added, gateway p50 / p99 ms |',
    '|---|---|---|---|---|---|',
    ...rows
      .filter((row) => row.unloaded)
      .map((row) => {
        const u = row.unloaded
        const ttfb = row.stream ? pair(added(u, 'gateway', 'ttfb50'), added(u, 'gateway', 'ttfb99'), 3) : '-'
        return `| ${row.name} | ${pair(u.direct.p50, u.direct.p99, 3)} | ${pair(added(u, 'thin', 'p50'), added(u, 'thin', 'p99'), 3)} | ${pair(added(u, 'parsing', 'p50'), added(u, 'parsing', 'p99'), 3)} | ${pair(added(u, 'gateway', 'p50'), added(u, 'gateway', 'p99'), 3)} | ${ttfb} |`
      }),
  ]
}

/** How much CPU the hypervisor gave other guests during the run (/proc/stat steal): the run's noise, in one figure. */
function stealSentence(steal) {
  if (steal === undefined) return ''
  return ` Steal during the run: ${f(steal * 100, 1)}% of the cores' time went to other guests of the host (/proc/stat); the more, the noisier the ratios.`
}

export function report(r, { elapsedMs, partial }) {
  const lines = [
    '# Benchmarks',
    '',
    `Made by \`npm run bench\` (bench/run.mjs)${partial ? ` with BENCH_ONLY=${partial}` : ''}; the run took ${f(elapsedMs / 60_000, 1)} min at`,
    `BENCH_SECONDS=${SECONDS}. Each server is a process of its own in front of bench/zero-upstream.mjs, a backend that`,
    `answers at once, so each side pays only for its own work. The gateway (\`node ${[...GATEWAY_NODE_FLAGS, 'dist/main.js'].join(' ')}\`, as \`npm start\` runs it) runs as in production:`,
    'auth, validation, exact token counting, the cache (in memory), metrics and `info` logs (to /dev/null). It is compared',
    'with two floors measured in the same run, the three taking turns (thin, parsing, gateway, then again; medians of the two):',
    'the **thin** forwarder (bench/thin-forwarder.mjs: node:http, body piped to an undici pool, answer piped back) and',
    'the **parsing** floor (bench/parsing-floor.mjs: hono + @hono/node-server, the JSON read and checked with a small',
    'zod schema, serialised again and sent through an undici pool). Each ratio is against the **faster** floor for that',
    `scenario. Before anything is measured, every server is brought to its steady state (each scenario's body for 2 s, twice`,
    `over: a large program is compiled only as its paths get hot). Load: autocannon, ${CONNECTIONS} connections unless the`,
    `scenario says otherwise, ${SECONDS} s per measurement after a 1 s warm-up, every body unique`,
    'unless the scenario says otherwise. CPU ms/request: user + system time of the server process (all threads, from',
    `/proc/<pid>/stat, ${CLK_TCK} ticks/s) over the measurement, divided by the answers. Latencies: from sending to the last`,
    'byte of the answer. Unloaded: 200 requests one at a time per server, servers taking turns request by request; "added" is',
    `over the same request sent straight to the backend. Machine: ${process.platform} ${process.arch}, Node ${process.version}, ${cpus().length} cores`,
    'shared by the load generator, the servers and other work on the host, so absolute figures are low and noisy; the',
    `ratios are the result.${stealSentence(r.host?.steal)}`,
    '',
  ]
  const t = targets(r)
  if (t.length) {
    lines.push(
      '## Targets',
      '',
      '| target | measured | |',
      '|---|---|---|',
      ...t.map(([name, value, ok]) => `| ${name} | ${value} | ${met(ok)} |`),
      '',
    )
  }
  const groups = [...(r.text ?? []), ...(r.images ?? [])]
  if (r.text) lines.push('## Text', '', ...throughputTable(r.text), '')
  if (r.images)
    lines.push(
      '## Images',
      '',
      'The gateway decodes each data URL image, sniffs its type and size, hashes it and forwards its bytes. An image by URL',
      'it downloads (from the backend process, which serves images too), checks and forwards as base64; the floors forward',
      'that URL as text and the backend never fetches it, so that row shows what downloading costs, not a like-for-like ratio.',
      '',
      ...throughputTable(r.images),
      '',
    )
  if (groups.length) {
    lines.push(
      '## Both floors',
      '',
      'The floor used above is the faster of these two. Gateway against the parsing floor, for reference:',
      '',
      ...floorsTable(groups),
      '',
    )
    lines.push(
      '## Unloaded latency',
      '',
      'One request at a time (200 per server, after 20 not counted). A p99 of 200 samples is their third largest, so the',
      'p99 columns are noisy (a difference of two such can come out below zero); the p50 columns are the steady ones.',
      '',
      ...unloadedTable(groups),
      '',
    )
  }
  if (r.openloop)
    lines.push(
      ...openLoopSection(
        r.openloop,
        r.text?.find((row) => row.id === 'text'),
      ),
    )
  if (r.memory) lines.push(...memorySection(r.memory))
  if (r.uploads) lines.push(...uploadsSection(r.uploads))
  if (r.noisy) lines.push(...noisySection(r.noisy))
  if (r.replicas) lines.push(...replicaSection(r.replicas))
  if (r.capacity) lines.push(...capacitySection(r.capacity))
  if (r.peers) lines.push(...peersSection(r.peers))
  return lines.join('\n')
}

function openLoopSection(o, closedLoop) {
  const row = (name, label) =>
    `| ${label} | ${f(o[name].rate, 0)} | ${pair(o[name].p50, o[name].p99)} | ${name === 'direct' ? '-' : pair(o[name].p50 - o.direct.p50, o[name].p99 - o.direct.p99)} | ${f(o[name].cpuPerReq, 3)} |`
  return [
    '## Open loop',
    '',
    `Unique text requests started at a fixed ${o.rate} req/s for ${SECONDS} s whether or not earlier ones were answered`,
    '(bench/lib/measure.mjs `openLoop`, an undici pool of 128 connections), medians of three runs each.',
    '',
    '| path | achieved req/s | p50 / p99 ms | added over direct p50 / p99 ms | server CPU ms/req |',
    '|---|---|---|---|---|',
    row('direct', 'straight to the backend'),
    row('thin', 'thin floor'),
    row('parsing', 'parsing floor'),
    row('gateway', 'gateway'),
    '',
    `Answers other than 200: ${errorsBy(o, ['direct', 'thin', 'parsing', 'gateway'])}.`,
    ...(closedLoop
      ? [
          '',
          `For scale, the closed-loop figures for the same requests in this run (text group): thin ${f(closedLoop.thin.rps, 0)},`,
          `parsing ${f(closedLoop.parsing.rps, 0)}, gateway ${f(closedLoop.gateway.rps, 0)} req/s. A server whose capacity is below the arrival`,
          'rate builds a queue that grows for the whole run, and its latency with it.',
        ]
      : []),
    '',
  ]
}

function memorySection(rows) {
  const { connections, imageMiB, perByte } = MEMORY_SETUP
  return [
    '## Memory under concurrent large images',
    '',
    `${connections} requests sent at once, each on its own connection and naming an ${imageMiB} MiB image URL on a loopback host`,
    '(served by the backend process, bench/zero-upstream.mjs), and waited for; the gateway downloads, checks and hashes each image and forwards it as base64.',
    "Idle RSS: VmRSS before; peak: the process's VmHWM after. Each image is charged",
    `${perByte}x its size against images.maxInFlightBytes, so the effective cap is what the images admitted at once are charged:`,
    `floor(cap / ${perByte * imageMiB} MiB) images x ${perByte * imageMiB} MiB. Past the cap a request waits (images.inFlightWaitMs), then is`,
    'refused; the answers column says how the 64 ended. Target: peak <= idle + effective cap + 64 MiB; the second row,',
    'with a cap that does not bind, is for contrast.',
    '',
    '| setting | idle RSS MiB | peak RSS MiB | images the cap admits at once | effective cap MiB | bound MiB | within | all answered after s | answers |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (m) =>
        `| ${m.label} | ${f(m.idle, 0)} | ${f(m.peak, 0)} | ${m.atOnce} | ${f(m.effectiveCapMiB, 0)} | ${f(m.limitMiB, 0)} | ${m.target ? met(m.peak <= m.limitMiB) : (m.peak <= m.limitMiB ? 'yes' : 'no') + ' (contrast)'} | ${f(m.seconds, 1)} | ${statusText(m.statuses)} |`,
    ),
    '',
  ]
}

function uploadsSection({ alone, inTurn, together, ungated, limitMiB }) {
  const { uploads, bodyMiB, readBeforeTurnMiB } = UPLOAD_SETUP
  const row = (label, m) =>
    `| ${label} | ${f(m.idle, 0)} | ${f(m.peak, 0)} | +${f(m.peak - m.idle, 0)} | ${f(m.seconds, 1)} | ${statusText(m.statuses)} |`
  return [
    '## Memory under chunked uploads',
    '',
    `Chat requests of ${bodyMiB} MiB (one text filling them) sent chunked, with no Content-Length, so the gateway learns each`,
    `body's size only by reading it; the gateway refuses each once read, before joining its chunks (the text cannot fit the context window). Each`,
    `row is a fresh gateway. A chunked body is read up to ${readBeforeTurnMiB} MiB, then waits unread for its turn at the large-work`,
    `gate (server.largeWorkConcurrency), so ${uploads} at once should cost what the same ${uploads} cost one after another, plus what`,
    `the others read before their turns. Target: peak <= idle + what ${uploads} bodies one after another add + ${uploads} x ${readBeforeTurnMiB} MiB`,
    `+ 64 MiB, here ${f(limitMiB, 0)} MiB. One after another holds more than one body alone: a body's buffers are freed by a`,
    `garbage collection some time after it is answered. The last row, for contrast, opens the gate to all ${uploads}`,
    `(largeWorkConcurrency ${uploads}), so every body is read at once.`,
    '',
    '| bodies | idle RSS MiB | peak RSS MiB | added MiB | all answered after s | answers |',
    '|---|---|---|---|---|---|',
    row('1 alone', alone),
    row(`${uploads}, one after another`, inTurn),
    row(`${uploads} at once`, together),
    row(`${uploads}, the gate open to all (contrast)`, ungated),
    '',
  ]
}

function noisySection(n) {
  const line = (label, q) => `| ${label} | ${q.n} | ${pair(q.p50, q.p99)} |`
  return [
    '## Noisy neighbour',
    '',
    `${NOISY_CLIENTS} clients (bench/noisy-clients.mjs, a process of its own) send the largest bodies the gateway accepts in a loop,`,
    `taking turns over the kinds below, with server.bodyLimitBytes ${NOISY_LIMITS.bodyLimitBytes / 1048576} MiB and images.maxBytesPerImage`,
    `${NOISY_LIMITS.maxBytesPerImage / 1048576} MiB set explicitly (the defaults). A ninth client sends a small unique chat request, then`,
    `GET /healthz, one at a time, for ${SECONDS} s alone and then ${SECONDS} s under that load. Before that, each server (the gateway`,
    `and each floor) is warmed: ${NOISY_WARM_SECONDS} s of the ninth client alone, then ${NOISY_WARM_SECONDS} s beside the noise.`,
    '',
    '| ninth client | requests | p50 / p99 ms |',
    '|---|---|---|',
    line('chat, alone', n.unloaded.chat),
    line('chat, under load', n.loaded.chat),
    line('GET /healthz, alone', n.unloaded.health),
    line('GET /healthz, under load', n.loaded.health),
    ...(n.floors
      ? [
          line('chat through the thin floor, alone', n.floors.thin.unloaded),
          line('chat through the thin floor, under load', n.floors.thin.loaded),
          line('chat through the parsing floor, alone', n.floors.parsing.unloaded),
          line('chat through the parsing floor, under load', n.floors.parsing.loaded),
        ]
      : []),
    '',
    `Errors seen by the ninth client: ${n.unloaded.errors} alone, ${n.loaded.errors} under load. Gateway RSS: idle ${f(n.idle, 0)} MiB,`,
    `peak (VmHWM) ${f(n.peak, 0)} MiB (+${f(n.peak - n.idle, 0)} MiB).`,
    '',
    `The gateway spent ${f(n.cpuPerNoisyBody, 1)} ms of CPU per noisy body (all threads, over the whole noise).`,
    ...(n.mainThread
      ? [
          `Under load its main thread, the event loop, was on a core ${pct(n.mainThread.onCpu)} of the time and waiting for one`,
          `${pct(n.mainThread.waiting)} (/proc/<pid>/schedstat), idle the other ${pct(Math.max(0, 1 - n.mainThread.onCpu - n.mainThread.waiting))}. An idle share near 0 means the noisy`,
          "bodies' work keeps the loop busy throughout: the slices it is cut into bound each wait, not their sum.",
        ]
      : []),
    '',
    ...(n.floors
      ? [
          'The floors ran under the same noise, each started on its own after the gateway. They have no limits, so they forward',
          '(thin) or parse and forward (parsing) every noisy body, where the gateway refuses the oversized text and the deep JSON.',
          '',
        ]
      : []),
    '| noisy body | sent | answers by status | mean time ms |',
    '|---|---|---|---|',
    ...n.noise.map(
      (k) =>
        `| ${k.name} | ${k.sent} | ${
          Object.entries(k.statuses)
            .map(([s, c]) => `${s}: ${c}`)
            .join(', ') || '-'
        }${k.errors ? `, failed: ${k.errors}` : ''} | ${f(k.totalMs / Math.max(1, k.sent), 0)} |`,
    ),
    '',
  ]
}

function replicaSection(rows) {
  const top = (perCommand) =>
    Object.entries(perCommand ?? {})
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, v]) => `${k} ${f(v)}`)
      .join(', ')
  return [
    '## Replicas',
    '',
    'Gateways on one private redis-server (no persistence), with a day budget on the bench key large enough never to',
    `bind, so every request reserves and settles in Redis, and the cache on. Unique text; ${CONNECTIONS} connections split`,
    'evenly over the replicas, one autocannon per replica running at the same time; medians of two runs. Redis figures are',
    'per request the gateway handled (its requests_total): commands count those run inside scripts too (INFO',
    "commandstats); round trips are the gateway's own count (store_round_trips_total); bytes in and out are INFO stats",
    "total_net_input_bytes and total_net_output_bytes (the bench's own INFO taken out); CPU is used_cpu_sys + used_cpu_user.",
    'Gateway CPU ms/req is summed over the replicas. All of it shares the same 2 cores, so more replicas cannot add throughput here:',
    "the rows show what Redis costs per request, not scaling. Budget store failures: the replicas' own count",
    '(budget_store_failures_total, warm-up included) of budget checks Redis did not answer within redis.commandTimeoutMs',
    '(50 ms): `refused` ones are the 503s.',
    '',
    '| replicas | store | req/s (all) | req/s per replica | p50 / p99 ms | gateway CPU ms/req | Redis commands/req | Redis round trips/req | Redis bytes in / out per req | Redis CPU ms/req | other answers | budget store failures |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${x.replicas} | ${x.store} | ${f(x.rps, 0)} | ${f(x.rps / x.replicas, 0)} | ${pair(x.p50, x.p99)} | ${f(x.cpuPerReq, 3)} | ${f(x.redisCommandsPerReq)} | ${f(x.roundTripsPerReq)} | ${x.redisInPerReq === undefined ? '-' : `${f(x.redisInPerReq, 0)} / ${f(x.redisOutPerReq, 0)}`} | ${f(x.redisCpuPerReq, 3)} | ${statusText(x.statuses)} | ${statusText(x.storeFailures)} |`,
    ),
    '',
    'Commands per request, the most frequent:',
    '',
    ...rows.filter((x) => x.perCommand).map((x) => `- ${x.replicas} replica${x.replicas > 1 ? 's' : ''}: ${top(x.perCommand)}`),
    '',
  ]
}
