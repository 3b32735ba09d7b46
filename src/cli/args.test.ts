import { describe, expect, it } from 'vitest'
import { parseArgs, UsageError } from './args.js'

describe('parseArgs', () => {
  it('serves the default config, or the one GATEWAY_CONFIG or --config names', () => {
    expect(parseArgs([], {})).toEqual({ kind: 'serve', configPath: 'config/gateway.yaml' })
    expect(parseArgs([], { GATEWAY_CONFIG: 'env.yaml' })).toEqual({ kind: 'serve', configPath: 'env.yaml' })
    expect(parseArgs(['--config', 'a.yaml'], { GATEWAY_CONFIG: 'env.yaml' })).toEqual({ kind: 'serve', configPath: 'a.yaml' })
    expect(parseArgs(['--config=b.yaml'], {})).toEqual({ kind: 'serve', configPath: 'b.yaml' })
  })

  it('checks the config with --check-config, in either order', () => {
    expect(parseArgs(['--check-config', '--config', 'a.yaml'], {})).toEqual({ kind: 'check-config', configPath: 'a.yaml' })
    expect(parseArgs(['--config', 'a.yaml', '--check-config'], {})).toEqual({ kind: 'check-config', configPath: 'a.yaml' })
  })

  it('prints help for --help and -h, whatever else is there', () => {
    expect(parseArgs(['--help'], {})).toEqual({ kind: 'help' })
    expect(parseArgs(['--check-config', '-h'], {})).toEqual({ kind: 'help' })
  })

  it('refuses an unknown flag, a stray word and a --config without a path', () => {
    expect(() => parseArgs(['--verbose'], {})).toThrow(UsageError)
    expect(() => parseArgs(['serve'], {})).toThrow('unknown argument "serve"')
    expect(() => parseArgs(['--config'], {})).toThrow('--config needs a path')
    expect(() => parseArgs(['--config', '--check-config'], {})).toThrow('--config needs a path')
  })
})
