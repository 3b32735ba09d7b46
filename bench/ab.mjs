// A/B of two builds: the working tree's dist/ (B, built first by `npm run bench:ab`) against a git
// revision (A, built into a temporary worktree), each a gateway in front of the zero-latency
// backend, taking turns round by round, a new pair of gateways each round. The measure is CPU per
// request, which load changes least; the result is the median over rounds of B's over A's.
//
//   npm run bench:ab -- <revision> [scenario,...]     scenarios of the text and images groups (default text,stream,cache)
//   BENCH_AB_ROUNDS=6 BENCH_SECONDS=4                  rounds per scenario, seconds per round
//   BENCH_AB_WARMUP=4                                  seconds of load before a new pair is measured
//
// Where each process lands moves a round's CPU per request by 20-30% on a shared 2-core host: more
// than most changes are worth. So with two cores or more and `taskset`, both gateways run on core
// 1 and the load generator and backend on core 0 (this script starts itself again under taskset).
// The full benchmark is not pinned: its throughput ratios assume the floors share the machine.
//
// A/A runs (HEAD against a working tree with the same source) with one pair of gateways for all
// rounds came out anywhere from 0.99 to 1.19, once with B dearer in 10 rounds of 10: a process keeps
// its own cost for its whole life. With a new pair each round they came out at 0.99 and 1.02.
//
// Each scenario's line ends with a sign test of its rounds (signTestP): under 0.05 takes 8 of 8
// rounds, or 10 of 12 (BENCH_AB_ROUNDS=12). A smaller split is reported as one the rounds cannot
// tell from noise, whatever its median ratio.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { scenarioById } from './groups/throughput.mjs'
import { load, median } from './lib/measure.mjs'
import { forkServer, installCleanup, killAll, root, startGateway } from './lib/processes.mjs'

const PINNED = 'BENCH_AB_PINNED'
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 6)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const WARMUP_SECONDS = Number(process.env.BENCH_AB_WARMUP ?? 4)

const canPin = () => availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0

/** A revision's gateway, built into a worktree of its own that shares this checkout's node_modules. */
function buildRevision(revision) {
  const dir = mkdtempSync(join(tmpdir(), 'llava-ab-'))
  const tree = join(dir, 'tree')
  execFileSync('git', ['worktree', 'add', '--detach', tree, revision], { cwd: root, stdio: 'ignore' })
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'))
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: tree, stdio: 'inherit' })
  return {
    main: join(tree, 'dist/main.js'),
    remove() {
      spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: root, stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function main() {
  const [revision, list = 'text,stream,cache'] = process.argv.slice(2)
  if (!revision) throw new Error('usage: node bench/ab.mjs <revision> [scenario,...]')
  const scenarios = list.split(',').map(scenarioById)
  const pinned = process.env[PINNED] === '1'
  const built = buildRevision(revision)
  try {
    const upstream = await forkServer('zero-upstream.mjs')
    const cpus = pinned ? '1' : undefined
    const start = {
      A: () => startGateway({ upstreamPort: upstream.port }, { main: built.main, cpus }),
      B: () => startGateway({ upstreamPort: upstream.port }, { cpus }),
    }
    console.log(
      `A: ${revision}, B: the working tree; ${ROUNDS} rounds of ${SECONDS} s, a new pair of processes each${pinned ? ', gateways on core 1' : ', not pinned'}`,
    )
    for (const scenario of scenarios) {
      const cpu = { A: [], B: [] }
      for (let round = 0; round < ROUNDS; round++) {
        // A new pair each round: one process can run 5-10% cheaper or dearer than another of the same
        // build for its whole life (where its code and heap landed, what the JIT chose), and the
        // median over pairs averages that out where one long-lived pair would carry it into every round.
        // Each build goes first in every other round: whatever the host does in a round's first half is shared.
        const order = round % 2 ? ['A', 'B'] : ['B', 'A']
        const gateways = {}
        for (const name of order) gateways[name] = await start[name]()
        for (const name of order) await load({ port: gateways[name].port, body: scenario.body(upstream), seconds: WARMUP_SECONDS }) // the JIT's first work is not the steady state
        for (const name of order) {
          const g = gateways[name]
          cpu[name].push((await load({ port: g.port, pids: [g.pid], body: scenario.body(upstream), seconds: SECONDS })).cpuPerReq)
        }
        for (const name of order) await gateways[name].stop()
      }
      const cheaper = cpu.B.filter((b, i) => b < cpu.A[i]).length
      const dearer = cpu.B.filter((b, i) => b > cpu.A[i]).length
      const ratio = median(cpu.B.map((b, i) => b / cpu.A[i]))
      const p = signTestP(cheaper, cheaper + dearer)
      console.log(
        `${scenario.id}: CPU ms/req A ${median(cpu.A).toFixed(3)}, B ${median(cpu.B).toFixed(3)}; ` +
          `B cheaper in ${cheaper} of ${ROUNDS} rounds, median B/A ${ratio.toFixed(3)}; ` +
          `sign test p = ${p.toFixed(3)}${p < 0.05 ? '' : ' (no difference this A/B can tell from noise)'}`,
      )
    }
  } finally {
    await killAll()
    built.remove()
  }
}

/**
 * The two-sided sign test: how likely a split at least as uneven as `k` of `n` rounds (ties left
 * out) is when B and A cost the same and each round is a coin toss. B cheaper in 6 of 8 rounds is
 * p = 0.29: chance alone splits that unevenly more than a quarter of the time, whatever the median
 * B/A (one such A/B here read 0.94). The ratio says how much; p says whether the rounds can tell.
 */
function signTestP(k, n) {
  if (n === 0) return 1
  const tail = Math.min(k, n - k)
  let sum = 0
  let choose = 1 // C(n, i)
  for (let i = 0; i <= tail; i++) {
    sum += choose
    choose = (choose * (n - i)) / (i + 1)
  }
  return Math.min(1, (2 * sum) / 2 ** n)
}

if (process.env[PINNED] === undefined && canPin()) {
  // Again, pinned: this process (the load generator) and the backend it forks on core 0.
  const again = spawnSync('taskset', ['-c', '0', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [PINNED]: '1' },
  })
  process.exit(again.status ?? 1)
} else {
  installCleanup()
  await main()
  process.exit(0)
}
