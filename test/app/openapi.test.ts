import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HOSTED_API_EXAMPLES } from '../fixtures/hosted-api-examples.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, TEST_KEY, testConfig } from '../helpers/test-app.js'

// /openapi.json: OpenAPI 3.1 generated from the zod schemas the gateway parses and answers with.

const ADMIN_KEY = 'sk-test-admin-key'

let upstream: FakeUpstream
let document: Record<string, unknown>
let app: ReturnType<typeof buildTestApp>['app']
let ajv: Ajv2020
beforeAll(async () => {
  upstream = await FakeUpstream.start()
  app = buildTestApp({
    ...testConfig(upstream.baseUrl),
    keys: [
      { alias: 'user', team: 'team-a', secret: TEST_KEY, budgets: [{ window: 'day', tokens: 1_000 }] },
      { alias: 'ops', team: 'ops', secret: ADMIN_KEY, role: 'admin' },
    ],
  }).app
  const res = await app.request('/openapi.json') // no key: tools fetch it before they have one
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('application/json')
  document = (await res.json()) as Record<string, unknown>
  // The document's schemas under its own URI, so their `#/components/schemas/...` references resolve.
  ajv = new Ajv2020({ strict: false, allErrors: true })
  ajv.addSchema(document, 'openapi.json')
})
afterAll(() => upstream.close())

const validatorFor = (component: string) => {
  const validate = ajv.getSchema(`openapi.json#/components/schemas/${component}`)
  if (!validate) throw new Error(`no component schema ${component}`)
  return validate
}
const get = (path: string, key: string) => app.request(path, { headers: { authorization: `Bearer ${key}` } })

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(document)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(document['openapi']).toBe('3.1.0')
  })

  it("has component schemas that are valid JSON Schema 2020-12 (OpenAPI 3.1's dialect), even to a strict compiler", () => {
    const strict = new Ajv2020({ strict: true })
    strict.addKeyword('example')
    const schemas = (document['components'] as { schemas: Record<string, object> }).schemas
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining([
        'CreateChatCompletionRequest',
        'ChatCompletion',
        'ErrorResponse',
        'Usage',
        'BudgetUsage',
        'AdminKeyList',
        'AdminUsage',
      ]),
    )
    for (const [id, schema] of Object.entries(schemas)) strict.addSchema(schema, `#/components/schemas/${id}`)
    for (const id of Object.keys(schemas)) expect(() => strict.getSchema(`#/components/schemas/${id}`), id).not.toThrow()
  })

  it.each(Object.entries(HOSTED_API_EXAMPLES))("its request schema accepts the hosted API's example: %s", (_name, example) => {
    const validate = validatorFor('CreateChatCompletionRequest')
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true)
  })

  it('its request schema refuses what the gateway refuses', () => {
    const validate = validatorFor('CreateChatCompletionRequest')
    const { imageUrl } = HOSTED_API_EXAMPLES
    expect(validate({ model: imageUrl.model })).toBe(false) // no messages
    expect(validate({ ...imageUrl, messages: [] })).toBe(false)
    expect(validate({ ...imageUrl, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] })).toBe(false)
    expect(validate({ ...imageUrl, temperature: 3 })).toBe(false)
  })

  it('describes what the gateway actually answers', async () => {
    const cases: Array<[string, string, string]> = [
      ['/v1/usage', TEST_KEY, 'Usage'],
      ['/v1/models', TEST_KEY, 'ModelList'],
      ['/admin/keys', ADMIN_KEY, 'AdminKeyList'],
      ['/admin/usage', ADMIN_KEY, 'AdminUsage'],
      ['/admin/keys', TEST_KEY, 'ErrorResponse'],
    ]
    for (const [path, key, component] of cases) {
      const body: unknown = await (await get(path, key)).json()
      const validate = validatorFor(component)
      expect(validate(body), `${path}: ${JSON.stringify(validate.errors)}`).toBe(true)
    }
  })

  it('lists only paths the gateway serves', async () => {
    const paths = document['paths'] as Record<string, Record<string, unknown>>
    for (const [path, operations] of Object.entries(paths)) {
      for (const method of Object.keys(operations)) {
        if (path === '/admin/reload') continue // answered, but reloading needs a running process
        const res = await app.request(path.replace('{model}', 'llava-hf/llava-1.5-7b-hf'), {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          ...(method === 'post' ? { body: JSON.stringify(HOSTED_API_EXAMPLES.imageUrl) } : {}),
        })
        expect([404, 405].includes(res.status) && (await res.text()).includes('"not_found"'), `${method} ${path}`).toBe(false)
      }
    }
  })
})
