import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, it, expect } from 'vitest'
import { interpolate, type InterpolationProblem } from './interpolate.js'
import { ConfigError, loadConfig, loadConfigFile } from './load.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SHIPPED = join(ROOT, 'config/gateway.yaml')
const SECRET = 'gw-test-secret-7f3a9c'
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

const tmp = mkdtempSync(join(tmpdir(), 'llava-gateway-config-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let fileCount = 0
/** A config file on disk with this text; its path. */
function writeConfig(text: string): string {
  const path = join(tmp, `config-${++fileCount}.yaml`)
  writeFileSync(path, text)
  return path
}

/** The smallest valid config tree; tests spread their changes over it. */
const minimal = (): Record<string, unknown> => ({
  backends: { local: { baseUrl: 'http://127.0.0.1:8000/v1' } },
  models: [{ id: 'm', backend: 'local' }],
})

/** The ConfigError a load throws (failing the test if it does not throw one). */
function configError(load: () => unknown): ConfigError {
  try {
    load()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

const paths = (error: ConfigError): string[] => error.problems.map((p) => p.path)

describe('loadConfigFile: the shipped config/gateway.yaml', () => {
  it('loads with an empty env: defaults filled, the key disabled with a warning naming its alias', () => {
    const { config, warnings } = loadConfigFile({}, SHIPPED)
    expect(config.server.host).toBe('127.0.0.1')
    expect(config.server.port).toBe(8080)
    expect(config.redis.url).toBe('')
    expect(config.backends['local']?.replicas).toEqual([{ name: 'local-0', url: 'http://127.0.0.1:8000/v1', weight: 1 }])
    expect(config.backends['local']?.kind).toBe('vllm')
    expect(config.backends['deepinfra']?.apiKey).toBe('')
    expect(config.models.map((m) => m.id)).toEqual(['llava-hf/llava-1.5-7b-hf', 'local/llava-1.5-7b'])
    expect(config.keys).toEqual([])
    expect(warnings.some((w) => w.includes('"local-dev"') && w.includes('disabled'))).toBe(true)
    expect(warnings.some((w) => w.includes('every chat request will get 401'))).toBe(true)
  })

  it('enables the key when GATEWAY_API_KEY is set, keeping only its SHA-256', () => {
    const { config, warnings } = loadConfigFile({ GATEWAY_API_KEY: SECRET, DEEPINFRA_TOKEN: 'token' }, SHIPPED)
    expect(config.keys).toHaveLength(1)
    expect(config.keys[0]).toEqual({
      alias: 'local-dev',
      team: 'default',
      role: 'user',
      sha256: sha256(SECRET),
      models: undefined,
      budgets: [],
    })
    const serialized = JSON.stringify(config)
    expect(serialized).toContain(sha256(SECRET))
    expect(serialized).not.toContain(SECRET)
    expect(warnings).toEqual([])
  })

  it('takes its ${VAR:-default} values from the env when set', () => {
    const { config } = loadConfigFile(
      {
        PORT: '9090',
        HOST: '0.0.0.0',
        LOCAL_BACKEND_URL: 'http://10.0.0.2:11434/v1',
        LOCAL_BACKEND_KIND: 'ollama',
        LOCAL_BACKEND_MODEL: 'llava:7b',
      },
      SHIPPED,
    )
    expect(config.server.port).toBe(9090)
    expect(config.server.host).toBe('0.0.0.0')
    expect(config.backends['local']).toMatchObject({ replicas: [{ url: 'http://10.0.0.2:11434/v1' }], kind: 'ollama' })
    expect(config.models[1]?.upstreamModel).toBe('llava:7b')
  })
})

describe('interpolate', () => {
  it('substitutes ${VAR} from the env, anywhere in a string, several times', () => {
    expect(interpolate('http://${HOST}:${PORT}/v1', { HOST: 'h', PORT: '1' })).toBe('http://h:1/v1')
  })

  it('uses the default when the variable is absent or empty, and the value when present', () => {
    expect(interpolate('${X:-fallback}', {})).toBe('fallback')
    expect(interpolate('${X:-fallback}', { X: '' })).toBe('fallback')
    expect(interpolate('${X:-fallback}', { X: 'set' })).toBe('set')
    expect(interpolate('${X:-}', {})).toBe('')
  })

  it('reports an absent variable without a default, with its path', () => {
    const problems: InterpolationProblem[] = []
    interpolate({ a: { b: ['ok', 'x${MISSING}'] } }, {}, problems)
    expect(problems).toEqual([{ path: 'a.b[1]', message: 'environment variable MISSING is not set' }])
  })

  it('treats an empty variable without a default as unset', () => {
    const problems: InterpolationProblem[] = []
    interpolate({ k: '${EMPTY}' }, { EMPTY: '' }, problems)
    expect(problems).toEqual([{ path: 'k', message: 'environment variable EMPTY is not set' }])
  })

  it('does not expand references inside a substituted value', () => {
    expect(interpolate('${A}', { A: '${B}', B: 'no' })).toBe('${B}')
  })

  it('leaves non-strings and strings without references alone', () => {
    const tree = { n: 5, b: true, z: null, s: 'plain $HOME {x}', list: [1, 'two'] }
    expect(interpolate(tree, { HOME: '/root' })).toEqual(tree)
  })
})

describe('loadConfig: interpolation', () => {
  it('throws a ConfigError naming the path and the variable when a required one is absent', () => {
    const error = configError(() =>
      loadConfig({}, { ...minimal(), backends: { local: { baseUrl: 'http://x', apiKey: '${LOCAL_TOKEN}' } } }),
    )
    expect(error.problems).toContainEqual({ path: 'backends.local.apiKey', message: 'environment variable LOCAL_TOKEN is not set' })
    expect(error.message).toContain('backends.local.apiKey')
    expect(error.message).toContain('LOCAL_TOKEN')
  })

  it('treats an empty required variable as unset', () => {
    const error = configError(() => loadConfig({ HOST: '' }, { ...minimal(), server: { host: '${HOST}' } }))
    expect(paths(error)).toContain('server.host')
  })

  it('keeps an env value containing YAML syntax as a plain string', () => {
    const path = writeConfig(
      [
        'server:',
        '  host: ${HOST}',
        'backends:',
        '  local:',
        '    baseUrl: http://127.0.0.1:8000/v1',
        '    apiKey: ${TOKEN}',
        'models:',
        '  - id: m',
        '    backend: local',
      ].join('\n'),
    )
    const injected = 'a: b\n- c'
    const { config } = loadConfigFile({ HOST: injected, TOKEN: '{x: [1, 2]}\nkind: tgi' }, path)
    expect(config.server.host).toBe(injected)
    expect(config.backends['local']?.apiKey).toBe('{x: [1, 2]}\nkind: tgi')
    expect(config.backends['local']?.kind).toBe('openai')
  })

  it('disables a second key with the same secret, naming both, so a secret always means one key', () => {
    const keys = [
      { alias: 'first', secret: SECRET },
      { alias: 'again', sha256: sha256(SECRET).toUpperCase() },
    ]
    const { config, warnings } = loadConfig({}, { ...minimal(), keys })
    expect(config.keys.map((k) => k.alias)).toEqual(['first'])
    expect(warnings).toContain('key "again" is disabled: it has the same secret as key "first"')
  })

  it('coerces numbers that arrive as strings', () => {
    const { config } = loadConfig({ PORT: '0' }, { ...minimal(), server: { port: '${PORT}' } })
    expect(config.server.port).toBe(0)
  })
})

describe('loadConfig: validation', () => {
  it('names each bad path in one ConfigError', () => {
    const tree = {
      modles: [],
      server: { port: 70000 },
      backends: { good: { baseUrl: 'http://127.0.0.1:8000/v1' }, bad: { baseUrl: 'not a url' } },
      models: [
        { id: 'a', backend: 'good' },
        { id: 'b', backend: 'missing' },
        { id: 'a', backend: 'good' },
      ],
      keys: [
        { alias: 'both', secret: 's', sha256: 'a'.repeat(64) },
        { alias: 'ghost-user', secret: 's2', models: ['a', 'ghost'] },
      ],
    }
    const error = configError(() => loadConfig({}, tree))
    expect(paths(error)).toEqual(
      expect.arrayContaining(['server.port', 'backends.bad.baseUrl', 'models[1].backend', 'models[2].id', 'keys[0]', 'keys[1].models[1]']),
    )
    expect(error.problems.some((p) => p.message.includes('modles'))).toBe(true)
    expect(error.problems.find((p) => p.path === 'models[1].backend')?.message).toContain('"missing"')
    expect(error.problems.find((p) => p.path === 'keys[1].models[1]')?.message).toContain('"ghost"')
    for (const path of paths(error)) expect(error.message).toContain(path)
  })

  it('still reports cross-reference problems when another part of the file has the wrong type', () => {
    const error = configError(() =>
      loadConfig(
        {},
        {
          auth: { allowAnonymous: 'maybe' },
          backends: { b: { baseUrl: 'http://x' } },
          models: [
            { id: 'm', backend: 'b' },
            { id: 'm2', backend: 'nope' },
            { id: 'm', backend: 'b' },
          ],
          keys: [{ alias: 'k2', secret: 's2', models: ['ghost'] }],
        },
      ),
    )
    expect(paths(error).sort()).toEqual(['auth.allowAnonymous', 'keys[0].models[0]', 'models[1].backend', 'models[2].id'])
  })

  it('names auth.allowAnonymous when it is not a boolean', () => {
    const error = configError(() => loadConfig({}, { ...minimal(), auth: { allowAnonymous: 'maybe' } }))
    expect(paths(error)).toEqual(['auth.allowAnonymous'])
  })

  it.each([
    ['a backend URL that is not http(s)', { ...minimal(), backends: { local: { baseUrl: 'ftp://host/x' } } }, 'backends.local.baseUrl'],
    ['an unknown backend kind', { ...minimal(), backends: { local: { baseUrl: 'http://x', kind: 'triton' } } }, 'backends.local.kind'],
    ['no models', { ...minimal(), models: [] }, 'models'],
    [
      'a duplicate key alias',
      {
        ...minimal(),
        keys: [
          { alias: 'k', secret: 'a' },
          { alias: 'k', secret: 'b' },
        ],
      },
      'keys[1].alias',
    ],
    ['a key with neither secret nor sha256', { ...minimal(), keys: [{ alias: 'k' }] }, 'keys[0]'],
    ['a sha256 that is not 64 hex digits', { ...minimal(), keys: [{ alias: 'k', sha256: 'abc' }] }, 'keys[0].sha256'],
    ['an alias with a space', { ...minimal(), keys: [{ alias: 'my key', secret: 's' }] }, 'keys[0].alias'],
    ['an unknown nested key', { ...minimal(), server: { prot: 1 } }, 'server'],
  ])('rejects %s, naming %s', (_name, tree, path) => {
    expect(paths(configError(() => loadConfig({}, tree)))).toContain(path)
  })

  it.each([
    ['"true"', 'true', true],
    ['"false"', 'false', false],
    ['true', true, true],
  ])('parses allowAnonymous given as %s', (_name, value, expected) => {
    const { config } = loadConfig({}, { ...minimal(), auth: { allowAnonymous: value } })
    expect(config.auth.allowAnonymous).toBe(expected)
  })

  it('parses boolean strings that come from the env', () => {
    const tree = {
      ...minimal(),
      auth: { allowAnonymous: '${ANON}' },
      backends: { local: { baseUrl: 'http://x', streamUsage: '${USAGE}' } },
    }
    const { config, warnings } = loadConfig({ ANON: 'true', USAGE: 'false' }, tree)
    expect(config.auth.allowAnonymous).toBe(true)
    expect(config.backends['local']?.streamUsage).toBe(false)
    // anonymous allowed: no "every request will get 401" warning (the backend's missing apiKey is another matter)
    expect(warnings.filter((w) => !w.includes('has no apiKey'))).toEqual([])
  })

  it('keeps a key given by sha256, lower-cased, and warns about none', () => {
    const hash = sha256(SECRET)
    const { config, warnings } = loadConfig(
      {},
      { ...minimal(), keys: [{ alias: 'k', team: 'vision', sha256: hash.toUpperCase(), models: ['m'] }] },
    )
    expect(config.keys).toEqual([{ alias: 'k', team: 'vision', role: 'user', sha256: hash, models: ['m'], budgets: [] }])
    expect(warnings.filter((w) => !w.includes('has no apiKey'))).toEqual([])
  })

  it('treats an absent file tree as empty and reports the required sections', () => {
    expect(paths(configError(() => loadConfig({}, null)))).toEqual(expect.arrayContaining(['backends', 'models']))
  })
})

describe('loadConfig: the result is deeply frozen', () => {
  const load = () => loadConfig({}, { ...minimal(), keys: [{ alias: 'k', secret: SECRET, models: ['m'] }] }).config

  it('freezes every nested object and array', () => {
    const config = load()
    const nested: unknown[] = [
      config,
      config.server,
      config.auth,
      config.redis,
      config.backends,
      config.backends['local'],
      config.backends['local']?.timeouts,
      config.models,
      config.models[0],
      config.models[0]?.imageTokens,
      config.keys,
      config.keys[0],
      config.keys[0]?.models,
    ]
    for (const value of nested) {
      expect(value).toBeTypeOf('object')
      expect(Object.isFrozen(value)).toBe(true)
    }
  })

  it('throws on assignment (tests run in strict mode)', () => {
    const config = load()
    expect(() => {
      ;(config.server as { port: number }).port = 1
    }).toThrow(TypeError)
    expect(() => {
      ;(config.models as unknown[]).push({})
    }).toThrow(TypeError)
    expect(() => {
      ;(config.backends as Record<string, unknown>)['extra'] = {}
    }).toThrow(TypeError)
    expect(config.server.port).toBe(8080)
  })
})

describe('loadConfigFile: file problems', () => {
  it('names a missing file', () => {
    const missing = join(tmp, 'does-not-exist.yaml')
    const error = configError(() => loadConfigFile({}, missing))
    expect(error.problems).toEqual([{ path: missing, message: expect.stringContaining('ENOENT') as unknown }])
    expect(error.message).toContain(missing)
  })

  it('names a file that is not valid YAML', () => {
    const path = writeConfig('server:\n  host: [unclosed\n  port: 1\n')
    const error = configError(() => loadConfigFile({}, path))
    expect(paths(error)).toEqual([path])
    expect(error.problems[0]?.message).toMatch(/^not valid YAML/)
  })
})

describe('--check-config on the command line', () => {
  const checkConfig = (file: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--check-config', '--config', file], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '' },
      encoding: 'utf8',
      timeout: 30_000,
    })

  it('accepts the shipped config: exit 0 and OK', { timeout: 30_000 }, () => {
    const result = checkConfig('config/gateway.yaml')
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    expect(result.stdout).toContain('config/gateway.yaml: OK (2 models, 0 keys enabled)')
    expect(result.stdout).toContain('"local-dev"')
  })

  it('rejects a bad file: exit 1 and the bad path on stderr', { timeout: 30_000 }, () => {
    const path = writeConfig('server:\n  port: 70000\nbackends:\n  local:\n    baseUrl: http://x\nmodels:\n  - id: m\n    backend: nope\n')
    const result = checkConfig(path)
    expect(result.status).toBe(1)
    expect(result.stdout).not.toContain('OK')
    expect(result.stderr).toContain('server.port')
    expect(result.stderr).toContain('models[0].backend')
  })
})

describe('config problems that used to pass', () => {
  const base = { backends: { b: { baseUrl: 'http://127.0.0.1:8000/v1', kind: 'vllm' } }, models: [{ id: 'm', backend: 'b' }] }

  it('refuses a malformed ${...} (a brace missing) instead of taking it as text, naming where', () => {
    const error = configError(() =>
      loadConfig({ GATEWAY_API_KEY: 'sk-real' }, { ...base, keys: [{ alias: 'k', secret: '${GATEWAY_API_KEY' }] }),
    )
    expect(error.problems).toEqual([{ path: 'keys[0].secret', message: 'malformed ${...} at character 1: "${GATEWAY_API_KEY"' }])
  })

  it('finds a malformed reference after a good one, and accepts good ones with defaults', () => {
    const error = configError(() => loadConfig({ A: 'a' }, { ...base, cache: { keyPrefix: '${A}:${B:-b}:${C' } }))
    expect(error.problems).toEqual([{ path: 'cache.keyPrefix', message: 'malformed ${...} at character 14: "${C"' }])
    expect(loadConfig({ A: 'a' }, { ...base, cache: { keyPrefix: '${A}:${B:-b}:' } }).config.cache.keyPrefix).toBe('a:b:')
  })

  it('warns about a hosted-API backend without a credential, and not about local servers', () => {
    const { warnings } = loadConfig(
      {},
      {
        backends: {
          hosted: { baseUrl: 'https://api.deepinfra.com/v1/openai', kind: 'openai' },
          local: { baseUrl: 'http://127.0.0.1:8000/v1', kind: 'vllm' },
        },
        models: [{ id: 'm', backend: 'hosted' }],
      },
    )
    expect(warnings.filter((w) => w.includes('apiKey'))).toEqual([
      'backend "hosted" (kind openai, api.deepinfra.com) has no apiKey: a hosted API will refuse every request sent to it',
    ])
  })
})
