import { describe, expect, it } from 'vitest'
import { errorOf } from '../../test/helpers/errors.js'
import { STEP_MODEL, stepApp, stepConfig } from '../../test/helpers/step-app.js'
import type { ConfigInput } from '../config/schema.js'
import { sha256Hex } from '../lib/sha256.js'
import { auth, type AuthVariables } from './index.js'
import { ANONYMOUS } from './principal.js'

const KEY_A = 'sk-team-a-0123456789'
const KEY_B = 'sk-team-a-second-key'

const CONFIG: Partial<ConfigInput> = {
  models: [
    { id: STEP_MODEL, backend: 'main' },
    { id: 'llava-next', backend: 'main' },
  ],
  keys: [
    { alias: 'a-key', team: 'team-a', secret: KEY_A, models: [STEP_MODEL], budgets: [{ window: 'day', tokens: 1_000 }] },
    // Configured by its hash only: the secret is never in the config.
    { alias: 'b-key', team: 'team-a', sha256: sha256Hex(KEY_B) },
    { alias: 'disabled', secret: '' },
  ],
  teams: [{ name: 'team-a', budgets: [{ window: 'month', tokens: 50_000 }] }],
}

function authApp(overrides: Partial<ConfigInput> = {}) {
  return stepApp<AuthVariables>(auth({ config: stepConfig({ ...CONFIG, ...overrides }) }))
}

const send = (app: ReturnType<typeof authApp>['app'], authorization?: string) =>
  app.request('/', { method: 'POST', headers: authorization === undefined ? {} : { authorization } })

describe('auth: a valid key', () => {
  it("sets the key's principal: alias, team, models, its own budgets and then its team's", async () => {
    const { app, reached } = authApp()
    const res = await send(app, `Bearer ${KEY_A}`)
    expect(res.status).toBe(200)
    expect(reached).toHaveLength(1)
    expect(reached[0]?.principal).toEqual({
      keyAlias: 'a-key',
      team: 'team-a',
      role: 'user',
      models: [STEP_MODEL],
      budgets: [
        { window: 'day', tokens: 1_000, scope: 'key', name: 'a-key' },
        { window: 'month', tokens: 50_000, scope: 'team', name: 'team-a' },
      ],
    })
  })

  it('accepts a key configured by its SHA-256, with models undefined (every model) and only the team budget', async () => {
    const { app, reached } = authApp()
    expect((await send(app, `Bearer ${KEY_B}`)).status).toBe(200)
    expect(reached[0]?.principal).toEqual({
      keyAlias: 'b-key',
      team: 'team-a',
      role: 'user',
      models: undefined,
      budgets: [{ window: 'month', tokens: 50_000, scope: 'team', name: 'team-a' }],
    })
  })

  it('accepts a key whose SHA-256 is written in capitals', async () => {
    const { app, reached } = authApp({ keys: [{ alias: 'upper', sha256: sha256Hex(KEY_B).toUpperCase() }] })
    expect((await send(app, `Bearer ${KEY_B}`)).status).toBe(200)
    expect(reached[0]?.principal?.keyAlias).toBe('upper')
  })

  it('reads the scheme case-insensitively and ignores spaces around the token', async () => {
    const { app, reached } = authApp()
    expect((await send(app, `bearer   ${KEY_A}  `)).status).toBe(200)
    expect(reached[0]?.principal?.keyAlias).toBe('a-key')
  })

  it('puts neither the secret nor its hash on the context', async () => {
    const { app, reached } = authApp()
    await send(app, `Bearer ${KEY_A}`)
    const principal = JSON.stringify(reached[0]?.principal)
    expect(principal).not.toContain(KEY_A)
    expect(principal).not.toContain(sha256Hex(KEY_A))
  })
})

describe('auth: refusals', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['a blank header', '   '],
  ])('answers 401 missing_api_key for %s, and the step after it never runs', async (_name, header) => {
    const { app, reached } = authApp()
    const res = await send(app, header)
    const error = await errorOf(res, 401, 'missing_api_key')
    expect(error.type).toBe('authentication_error')
    expect(reached).toHaveLength(0)
  })

  it.each([
    ['an unknown key', 'Bearer sk-guess-1234'],
    ['a known key with a character more', `Bearer ${KEY_A}x`],
    ['a known key cut short', `Bearer ${KEY_A.slice(0, -1)}`],
    ['the hash of a key instead of the key', `Bearer ${sha256Hex(KEY_B)}`],
  ])('answers 401 invalid_api_key for %s without echoing it', async (_name, header) => {
    const { app, reached } = authApp()
    const error = await errorOf(await send(app, header), 401, 'invalid_api_key')
    expect(error.message).toBe('Incorrect API key provided.')
    expect(error.raw).not.toContain(header.slice('Bearer '.length))
    expect(reached).toHaveLength(0)
  })

  it.each([
    ['another scheme', `Basic ${KEY_A}`],
    ['the bare key', KEY_A],
    ['Bearer without a token', 'Bearer'],
    ['two tokens', `Bearer ${KEY_A} ${KEY_B}`],
  ])('answers 401 invalid_api_key naming the expected form for a malformed header: %s', async (_name, header) => {
    const { app, reached } = authApp()
    const error = await errorOf(await send(app, header), 401, 'invalid_api_key')
    expect(error.message).toBe('Authorization must be "Bearer <key>".')
    expect(error.raw).not.toContain(KEY_A)
    expect(reached).toHaveLength(0)
  })
})

describe('auth: anonymous requests', () => {
  it('lets a request without a key through as the anonymous principal when auth.allowAnonymous is set', async () => {
    const { app, reached } = authApp({ auth: { allowAnonymous: true } })
    expect((await send(app)).status).toBe(200)
    expect(reached[0]?.principal).toEqual(ANONYMOUS)
    expect(ANONYMOUS).toEqual({ keyAlias: 'anonymous', team: 'anonymous', role: 'user', models: undefined, budgets: [] })
  })

  it('still refuses a wrong or malformed key when anonymous requests are allowed (no silent downgrade)', async () => {
    const { app, reached } = authApp({ auth: { allowAnonymous: true } })
    await errorOf(await send(app, 'Bearer sk-guess-1234'), 401, 'invalid_api_key')
    await errorOf(await send(app, `Basic ${KEY_A}`), 401, 'invalid_api_key')
    expect(reached).toHaveLength(0)
  })

  it('still gives a valid key its own principal when anonymous requests are allowed', async () => {
    const { app, reached } = authApp({ auth: { allowAnonymous: true } })
    await send(app, `Bearer ${KEY_A}`)
    expect(reached[0]?.principal?.keyAlias).toBe('a-key')
  })

  it('refuses a request without a key when allowAnonymous is not set (the default)', async () => {
    const { app } = authApp()
    await errorOf(await send(app), 401, 'missing_api_key')
  })
})
