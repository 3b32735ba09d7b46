// npm run mutate                      every group (each stryker/<group>.config.mjs), one after another
// npm run mutate -- guard             one group; several names run those
// npm run mutate -- guard --mutate src/image-fetch/url-guard.ts
//                                     anything else is passed to `stryker run` (here: narrow the files)
//
// Ends with a summary per group (score = killed / mutants that compile) and the survivors, which
// must each be killed by a test or listed in stryker/EQUIVALENT.md. Exits non-zero if a group
// failed or scored under its threshold.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const groups = readdirSync(here)
  .filter((f) => f.endsWith('.config.mjs'))
  .map((f) => f.slice(0, -'.config.mjs'.length))
  .sort()

const args = process.argv.slice(2)
const firstFlag = args.findIndex((a) => a.startsWith('-'))
const names = firstFlag === -1 ? args : args.slice(0, firstFlag)
const strykerArgs = firstFlag === -1 ? [] : args.slice(firstFlag)
const unknown = names.filter((n) => !groups.includes(n))
if (unknown.length > 0) {
  console.error(`unknown group(s): ${unknown.join(', ')}; the groups are: ${groups.join(', ')}`)
  process.exit(2)
}
const selected = names.length > 0 ? names : groups

let failed = false
const summaries = []
for (const group of selected) {
  const config = relative(root, join(here, `${group}.config.mjs`))
  console.log(`\n=== mutation group ${group}: stryker run ${config} ${strykerArgs.join(' ')}\n`)
  const run = spawnSync('npx', ['stryker', 'run', config, ...strykerArgs], { cwd: root, stdio: 'inherit' })
  if (run.status !== 0) failed = true
  summaries.push(summarize(group))
}

console.log('\n=== summary (score = killed / mutants that compile)')
for (const s of summaries) console.log(s)
process.exit(failed ? 1 : 0)

function summarize(group) {
  const file = join(root, 'reports', 'mutation', group, 'mutation.json')
  if (!existsSync(file)) return `${group}: no report (${relative(root, file)})`
  const report = JSON.parse(readFileSync(file, 'utf8'))
  const count = {}
  const survivors = []
  for (const [path, { source, mutants }] of Object.entries(report.files)) {
    const lines = source.split('\n')
    for (const m of mutants) {
      count[m.status] = (count[m.status] ?? 0) + 1
      if (m.status === 'Survived' || m.status === 'NoCoverage') {
        const line = m.location.start.line
        const original = (lines[line - 1] ?? '').trim().slice(0, 80)
        survivors.push(`  ${path}:${line} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? '')} [in: ${original}]`)
      }
    }
  }
  const killed = (count.Killed ?? 0) + (count.Timeout ?? 0)
  const valid = killed + (count.Survived ?? 0) + (count.NoCoverage ?? 0)
  const score = valid === 0 ? 'n/a' : `${((100 * killed) / valid).toFixed(2)}%`
  const detail = Object.entries(count)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  return [`${group}: ${killed}/${valid} = ${score} (${detail})`, ...survivors].join('\n')
}
