#!/usr/bin/env -S node --max-semi-space-size=32 --no-incremental-marking-task
import { pino } from 'pino'
import { parseArgs, USAGE, UsageError } from './cli/args.js'
import { ConfigError, loadConfigFile, type LoadedConfig } from './config/load.js'
import { flushedAtExit, LineBatch } from './lib/line-batch.js'
import { createLogger } from './lib/logger.js'
import { prettyLog } from './lib/pretty-log.js'
import { runGateway } from './server/run.js'

/** The only module that reads the environment or the command line. */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  let command
  try {
    command = parseArgs(argv, env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`llava-gateway: ${err.message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const { configPath } = command
  let loaded: LoadedConfig
  try {
    loaded = loadConfigFile(env, configPath)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${configPath}: ${err.message}\n`)
    process.exit(1)
  }
  if (command.kind === 'check-config') {
    for (const warning of loaded.warnings) process.stdout.write(`warning: ${warning}\n`)
    process.stdout.write(`${configPath}: OK (${loaded.config.models.length} models, ${loaded.config.keys.length} keys enabled)\n`)
    return
  }
  // Asynchronous, buffered writes: a synchronous write per request line costs about a fifth of the
  // gateway's throughput. Lines written within 10 ms of each other go as one write (LineBatch). Flushed
  // at shutdown and at exit; a crash that kills the process outright can lose the lines not yet written.
  const destination =
    env['LOG_FORMAT'] === 'pretty' ? prettyLog(process.stdout) : flushedAtExit(new LineBatch(pino.destination({ sync: false })))
  const log = createLogger(env['LOG_LEVEL'] ?? 'info', destination)
  for (const warning of loaded.warnings) log.warn(warning)
  await runGateway({ configPath, env, loaded, log })
}

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  process.stderr.write(`llava-gateway failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
