import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { deepFreeze } from '../lib/deep-freeze.js'
import { formatPath } from '../lib/json-path.js'
import { sha256Hex } from '../lib/sha256.js'
import { interpolate, type InterpolationProblem } from './interpolate.js'
import { ConfigSchema, type Config, type KeyConfig, type ParsedConfig } from './schema.js'
import { unpricedModelsUnderUsdBudgets } from './usd-budget-pricing.js'

export type Env = Readonly<Record<string, string | undefined>>

/** Every problem in a config, each naming its path, so one run shows them all. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(readonly problems: readonly InterpolationProblem[]) {
    super(`invalid config:\n${problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`)
  }
}

export type LoadedConfig = { config: Config; warnings: string[] }

/** Validate once and freeze: the running gateway never re-reads or mutates its config. */
export function loadConfig(env: Env, file: unknown): LoadedConfig {
  const problems: InterpolationProblem[] = []
  const resolved = interpolate(file ?? {}, env, problems)
  const parsed = ConfigSchema.safeParse(resolved)
  if (!parsed.success) problems.push(...parsed.error.issues.map(toProblem))
  else problems.push(...unpricedModelsUnderUsdBudgets(parsed.data))
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems)

  const warnings: string[] = []
  const keys = hashKeys(parsed.data, warnings)
  for (const [name, backend] of Object.entries(parsed.data.backends)) {
    // A hosted API refuses every request without a credential; local servers usually need none.
    if (backend.kind === 'openai' && backend.apiKey === '') {
      warnings.push(
        `backend "${name}" (kind openai, ${backend.replicas.map((r) => new URL(r.url).host).join(', ')}) has no apiKey: a hosted API will refuse every request sent to it`,
      )
    }
  }
  if (keys.length === 0 && !parsed.data.auth.allowAnonymous) {
    warnings.push('no API key is enabled and auth.allowAnonymous is false: every chat request will get 401')
  }
  return { config: deepFreeze({ ...parsed.data, keys }), warnings }
}

export function loadConfigFile(env: Env, path: string): LoadedConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError([{ path, message: `cannot read config file (${(err as NodeJS.ErrnoException).code ?? 'error'})` }])
  }
  let tree: unknown
  try {
    tree = parseYaml(text)
  } catch (err) {
    throw new ConfigError([{ path, message: `not valid YAML: ${(err as Error).message}` }])
  }
  return loadConfig(env, tree)
}

function hashKeys(config: ParsedConfig, warnings: string[]): KeyConfig[] {
  const keys: KeyConfig[] = []
  const aliasOf = new Map<string, string>()
  for (const key of config.keys) {
    const sha256 = key.sha256?.toLowerCase() ?? (key.secret ? sha256Hex(key.secret) : undefined)
    if (!sha256) {
      warnings.push(`key "${key.alias}" is disabled: its secret is empty`)
      continue
    }
    const first = aliasOf.get(sha256)
    if (first !== undefined) {
      warnings.push(`key "${key.alias}" is disabled: it has the same secret as key "${first}"`)
      continue
    }
    aliasOf.set(sha256, key.alias)
    keys.push({ alias: key.alias, team: key.team, role: key.role, sha256, models: key.models, budgets: key.budgets })
  }
  return keys
}

function toProblem(issue: z.core.$ZodIssue): InterpolationProblem {
  return { path: formatPath(issue.path) || '(root)', message: issue.message }
}
