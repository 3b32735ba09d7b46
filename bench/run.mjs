// Benchmarks: the gateway against the thinnest possible forwarder, measured in the same run on the
// same machine, with a zero-latency backend. Results are ratios, written to BENCHMARKS.md.
// Usage: npm run bench  (builds first). BENCH_SECONDS sets each measurement's length (default 5).
import { fork, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = 32
const KEY = 'bench-key'
const here = new URL('.', import.meta.url).pathname
const root = join(here, '..')
const children = []

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

function forkServer(file, env = {}) {
  const child = fork(join(here, file), [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  return new Promise((resolve) => child.once('message', (m) => resolve({ child, port: m.port })))
}

async function startGateway(upstreamPort, imagePort, images = {}) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'llava-bench-'))
  const configPath = join(dir, 'gateway.yaml')
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { host: '127.0.0.1', port },
      backends: { zero: { baseUrl: `http://127.0.0.1:${upstreamPort}/v1`, kind: 'vllm' } },
      models: [{ id: 'llava-hf/llava-1.5-7b-hf', backend: 'zero' }],
      keys: [{ alias: 'bench', team: 'bench', sha256: createHash('sha256').update(KEY).digest('hex') }],
      images: { ...images, fetch: { allowNetworks: ['127.0.0.1/32'], allowedPorts: [imagePort ?? 80], ...(images.fetch ?? {}) } },
    }),
  )
  // Logs at info, as in production, written to /dev/null: their cost is part of the gateway's.
  const child = spawn(process.execPath, [join(root, 'dist/main.js'), '--config', configPath], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return { child, port }
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

const chat = (params = {}, content = 'Describe the picture.') =>
  JSON.stringify({ model: 'llava-hf/llava-1.5-7b-hf', messages: [{ role: 'user', content }], ...params })

async function load(port, body, connections = CONNECTIONS, headers = {}) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body,
    connections,
    duration: SECONDS,
  })
  const bad = result.non2xx + result.errors + result.timeouts
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, bad }
}

function rssPeakKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN)
}

/** A request with one image as a data URL: a PNG header (800x600) padded to `bytes`. */
function imageBody(bytes) {
  const image = Buffer.alloc(bytes)
  Buffer.from('89504e470d0a1a0a0000000d4948445200000320000002580802000000', 'hex').copy(image)
  return chat({ temperature: 0.7 }, [
    { type: 'image_url', image_url: { url: `data:image/png;base64,${image.toString('base64')}` } },
    { type: 'text', text: 'What is in this image?' },
  ])
}

async function main() {
  const upstream = await forkServer('zero-upstream.mjs')
  const thin = await forkServer('thin-forwarder.mjs', { UPSTREAM_ORIGIN: `http://127.0.0.1:${upstream.port}` })
  const gateway = await startGateway(upstream.port)

  const scenarios = [
    { name: 'text, non-streaming (cache bypassed)', body: chat({ temperature: 0.7 }) },
    { name: 'text, streaming (cache bypassed)', body: chat({ temperature: 0.7, stream: true }) },
    { name: 'one 256 KiB image as a data URL (checked, hashed, re-encoded)', body: imageBody(256 * 1024) },
    { name: 'cache hit (temperature 0) vs forwarding the same request', body: chat({ temperature: 0 }) },
  ]
  const rows = []
  for (const scenario of process.env.BENCH_ONLY === 'memory' ? [] : scenarios) {
    await load(thin.port, scenario.body, 4) // warm both paths (JIT, pools, the cache entry) before measuring
    await load(gateway.port, scenario.body, 4)
    const base = await load(thin.port, scenario.body)
    const ours = await load(gateway.port, scenario.body)
    rows.push({ scenario: scenario.name, base, ours })
    console.log(scenario.name, { base, ours })
  }

  // Memory: many concurrent requests, each with an 8 MiB image URL. With the in-flight byte cap the
  // gateway's peak RSS stays bounded (excess requests wait, then get 503); without it, it grows.
  const imageHost = await forkServer('image-host.mjs', { IMAGE_BYTES: String(8 * 1024 * 1024) })
  const memory = []
  for (const [label, cap] of [
    ['maxInFlightBytes 32 MiB', 32 * 1024 * 1024],
    ['maxInFlightBytes 128 MiB', 128 * 1024 * 1024],
    ['maxInFlightBytes 4 GiB (effectively no cap)', 4096 * 1024 * 1024],
  ]) {
    const gw = await startGateway(upstream.port, imageHost.port, { maxInFlightBytes: cap, inFlightWaitMs: 500 })
    const idle = rssPeakKiB(gw.child.pid)
    const body = chat({ temperature: 0.7 }, [
      { type: 'image_url', image_url: { url: `http://127.0.0.1:${imageHost.port}/big.png` } },
      { type: 'text', text: 'What is in this image?' },
    ])
    const result = await load(gw.port, body, 48)
    memory.push({ label, idleMiB: idle / 1024, peakMiB: rssPeakKiB(gw.child.pid) / 1024, rps: result.rps, rejected: result.bad })
    console.log(label, memory.at(-1))
    gw.child.kill('SIGTERM')
  }
  const thinIdle = rssPeakKiB(thin.child.pid) / 1024

  writeFileSync(join(root, 'BENCHMARKS.md'), report(rows, memory, thinIdle))
  console.log('wrote BENCHMARKS.md')
}

const fmt = (n, digits = 0) => n.toFixed(digits)
function report(rows, memory, thinPeakMiB) {
  const lines = [
    '# Benchmarks',
    '',
    'Made by `npm run bench` (bench/run.mjs). Every number is measured in the same run against the',
    '**thinnest possible forwarder** (bench/thin-forwarder.mjs: no auth, no parsing, body piped to the',
    'backend through a keep-alive undici pool and the answer piped back), both in front of a backend that',
    `answers at once (bench/zero-upstream.mjs). Load: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per`,
    'measurement after a warm-up; gateway logging at `info` (to /dev/null), as in production.',
    `Machine: ${process.platform} ${process.arch}, Node ${process.version}, 2 cores shared by load generator,`,
    'forwarder or gateway, and backend, so absolute numbers are low; the ratios are the result.',
    '',
    '## Throughput and latency',
    '',
    '| scenario | forwarder req/s | gateway req/s | gateway / forwarder | forwarder p50 / p99 ms | gateway p50 / p99 ms | errors |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${fmt(r.base.rps)} | ${fmt(r.ours.rps)} | **${fmt(r.ours.rps / r.base.rps, 2)}** | ${fmt(r.base.p50)} / ${fmt(r.base.p99)} | ${fmt(r.ours.p50)} / ${fmt(r.ours.p99)} | ${r.base.bad + r.ours.bad} |`,
    ),
    '',
    "Reading the ratios: with a backend that answers in zero time, the only cost left is each side's own",
    'work, so the forwarder (which does nothing) is the ceiling. The gateway, per request, hashes the key,',
    'parses and validates the JSON, tokenizes the prompt exactly, builds a canonical cache key, records',
    'metrics and an access-log line, and re-serializes the answer with its usage; per image it also',
    'decodes, sniffs, hashes and re-encodes the bytes. A real LLaVA-1.5-7B backend takes 0.5 to 5 s per',
    'answer, against which the few hundred microseconds shown here are well under 1%.',
    '',
    'A cache hit never reaches the backend, so its row compares answering from the cache with the',
    'forwarder going to the zero-latency backend. The target "a hit costs no more than a trip through the',
    'bare proxy" (ratio >= 1) is not met on this machine: a hit runs the whole admission pipeline (auth,',
    'validation, images, token count, key) before the lookup, which costs more than a bare pipe to a',
    "backend that answers instantly. Against the gateway's own miss to the same backend (first row) a hit",
    'is faster, and against any real backend it saves the whole generation time.',
    '',
    '## Memory under concurrent large images',
    '',
    `48 connections for ${SECONDS} s, each request naming an 8 MiB image URL on a loopback host (the gateway`,
    'downloads, checks and hashes every image, then forwards it as base64). Peak RSS is the process',
    'high-water mark (VmHWM). Each image is charged about 5x its size against `images.maxInFlightBytes`',
    '(its bytes, their base64, the upstream body and its socket copy); excess requests wait up to 500 ms,',
    `then get 503 images_busy. The thin forwarder's peak RSS in this run: ${fmt(thinPeakMiB)} MiB.`,
    '',
    '| gateway setting | idle RSS MiB | peak RSS MiB | req/s | requests shed (503) |',
    '|---|---|---|---|---|',
    ...memory.map((m) => `| ${m.label} | ${fmt(m.idleMiB)} | ${fmt(m.peakMiB)} | ${fmt(m.rps, 1)} | ${m.rejected} |`),
    '',
  ]
  return lines.join('\n')
}

main()
  .catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(() => {
    for (const child of children) child.kill('SIGTERM')
  })
