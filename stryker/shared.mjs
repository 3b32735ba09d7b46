// What every mutation-testing group shares; each `<group>.config.mjs` beside this file names only
// its production files and the tests that guard them. A new group is one more such file: run.mjs
// finds it by name.
//
// Why the command runner and not @stryker-mutator/vitest-runner: that runner counts a test file
// that fails to load as a survived mutant, and address-policy.ts builds its block lists at import
// time, so a mutant that breaks parsing would "survive" by breaking every test. Here vitest's exit
// code decides: any failure, a load failure included, kills the mutant.

/**
 * @param {{ name: string, mutate: string[], tests: string[] }} group
 * @returns {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export function groupConfig({ name, mutate, tests }) {
  return {
    mutate,
    testRunner: 'command',
    // Runs inside Stryker's sandbox (a copy of the repo with node_modules symlinked back), so the
    // config is named explicitly; vitest turns the `.js` import suffixes back into `.ts` there too.
    // (node_modules/.bin rather than npx: one npm start-up less per mutant.)
    commandRunner: { command: `node_modules/.bin/vitest run --config vitest.config.ts --project unit ${tests.join(' ')}` },
    // The command runner cannot tell which test covers which mutant: every mutant runs all `tests`.
    coverageAnalysis: 'off',
    // Mutants the compiler rejects are reported as CompileError and left out of the score, so the
    // score is killed / mutants that compile.
    checkers: ['typescript'],
    tsconfigFile: 'tsconfig.json',
    // Two cores, shared with others: at most two vitest processes at a time.
    concurrency: 2,
    // Stryker's default (5 s + 1.5 × the dry run) turned runs slowed down by a busy machine into
    // "timeouts", which count as killed. A mutant that really hangs a test is failed by vitest's own
    // 5 s test timeout instead, so a generous limit here costs nothing and keeps the score honest.
    timeoutMS: 60_000,
    packageManager: 'npm',
    reporters: ['clear-text', 'progress', 'html', 'json'],
    htmlReporter: { fileName: `reports/mutation/${name}/index.html` },
    jsonReporter: { fileName: `reports/mutation/${name}/mutation.json` },
    // Issue 16: at least 90% of the mutants that compile are killed; every survivor left is listed,
    // with the reason, in stryker/EQUIVALENT.md.
    thresholds: { high: 95, low: 90, break: 90 },
    tempDirName: '.stryker-tmp',
  }
}
