export type Command = { kind: 'serve' | 'check-config'; configPath: string } | { kind: 'help' }

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export const USAGE = `Usage: llava-gateway [--config PATH] [--check-config] [--help]

  --config PATH     the YAML config (default: $GATEWAY_CONFIG, else config/gateway.yaml)
  --check-config    validate the config, print every problem and warning, and exit
                    (0: valid, 1: invalid, 2: usage error); starts nothing
  --help, -h        print this and exit

Environment: LOG_LEVEL (trace|debug|info|warn|error, default info), LOG_FORMAT (json|pretty,
default json), GATEWAY_CONFIG, and whatever \${VAR} the config names.
Signals: SIGHUP reloads the config; SIGTERM and SIGINT drain and stop.`

/** The command line, strictly: an unknown flag is a usage error, never silently ignored. */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  let configPath = env['GATEWAY_CONFIG'] || 'config/gateway.yaml'
  let check = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--help' || arg === '-h') return { kind: 'help' }
    if (arg === '--check-config') check = true
    else if (arg === '--config') {
      const value = argv[++i]
      if (value === undefined || value.startsWith('--')) throw new UsageError('--config needs a path')
      configPath = value
    } else if (arg.startsWith('--config=')) configPath = arg.slice('--config='.length)
    else throw new UsageError(`unknown argument "${arg.slice(0, 100)}"`)
  }
  return { kind: check ? 'check-config' : 'serve', configPath }
}
