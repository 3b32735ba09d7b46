import { z } from 'zod'
import { AdminKeysResponseSchema, AdminUsageResponseSchema, UsageResponseSchema } from '../usage/usage-schema.js'
import { ChatRequestSchema } from '../../validate/chat-request-schema.js'
import { ChatCompletionSchema, ErrorResponseSchema, ModelListSchema, ModelSchema, ReloadResultSchema } from './response-schemas.js'

/** The schemas the document names; each carries its component name as its zod `id`. */
const NAMED = {
  request: ChatRequestSchema,
  completion: ChatCompletionSchema,
  error: ErrorResponseSchema,
  model: ModelSchema,
  models: ModelListSchema,
  usage: UsageResponseSchema,
  adminKeys: AdminKeysResponseSchema,
  adminUsage: AdminUsageResponseSchema,
  reload: ReloadResultSchema,
} as const

const idOf = (schema: z.ZodType): string => {
  const id = z.globalRegistry.get(schema)?.id
  if (id === undefined) throw new Error('an OpenAPI component schema needs .meta({ id })')
  return id
}
const ref = (schema: z.ZodType) => ({ $ref: `#/components/schemas/${idOf(schema)}` })
const json = (description: string, schema: z.ZodType) => ({ description, content: { 'application/json': { schema: ref(schema) } } })
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), { $ref: '#/components/responses/Error' }]))

/**
 * The component schemas, generated from the zod schemas the gateway parses and answers with
 * (JSON Schema 2020-12, OpenAPI 3.1's dialect). Every schema with an `id` is a component, so a
 * nested one (BudgetUsage) is referenced, never copied; input shapes, as a client sends them.
 */
function componentSchemas(): Record<string, unknown> {
  for (const schema of Object.values(NAMED)) idOf(schema)
  const { schemas } = z.toJSONSchema(z.globalRegistry, {
    target: 'draft-2020-12',
    io: 'input',
    uri: (id) => `#/components/schemas/${id}`,
  })
  // `$id` and `$schema` belong to standalone documents: inside OpenAPI, components are named by their key.
  return Object.fromEntries(Object.entries(schemas).map(([id, { $id: _id, $schema: _schema, ...schema }]) => [id, schema]))
}

/** `/openapi.json`: the gateway's API as OpenAPI 3.1, built once per app. */
export function openApiDocument(): Record<string, unknown> {
  const bearer = [{ apiKey: [] }]
  const chatErrors = errors(400, 401, 403, 404, 413, 415, 429, 499, 502, 503, 504)
  return {
    openapi: '3.1.0',
    info: {
      title: 'llava-gateway',
      version: '0.1.0',
      description:
        'OpenAI-compatible gateway for LLaVA models. Every /v1 path also answers under /v1/openai (the hosted API’s own paths). ' +
        'Budgets are in tokens or US dollars per UTC calendar window.',
    },
    security: bearer,
    paths: {
      '/v1/chat/completions': {
        post: {
          operationId: 'createChatCompletion',
          summary: 'Chat completion, images first in a user message’s content',
          requestBody: { required: true, content: { 'application/json': { schema: ref(NAMED.request) } } },
          responses: {
            '200': {
              description: 'The answer, or with `stream: true` a `text/event-stream` of chunks',
              content: {
                'application/json': { schema: ref(NAMED.completion) },
                'text/event-stream': { schema: { type: 'string' } },
              },
            },
            ...chatErrors,
          },
        },
      },
      '/v1/models': {
        get: { operationId: 'listModels', responses: { '200': json('The models this key may use', NAMED.models), ...errors(401) } },
      },
      '/v1/models/{model}': {
        get: {
          operationId: 'retrieveModel',
          parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': json('The model', NAMED.model), ...errors(401, 404) },
        },
      },
      '/v1/usage': {
        get: {
          operationId: 'getUsage',
          summary: "The calling key's budgets and its team's, with what is used of them now",
          responses: { '200': json('Budgets and usage', NAMED.usage), ...errors(401, 503) },
        },
      },
      '/admin/keys': {
        get: {
          operationId: 'listKeys',
          summary: 'Every configured key (admin keys only): never a secret or hash',
          responses: { '200': json('The keys', NAMED.adminKeys), ...errors(401, 403, 503) },
        },
      },
      '/admin/usage': {
        get: {
          operationId: 'getAllUsage',
          summary: "Every team's budgets and its keys' own, with usage (admin keys only)",
          responses: { '200': json('Usage by team', NAMED.adminUsage), ...errors(401, 403, 503) },
        },
      },
      '/admin/reload': {
        post: {
          operationId: 'reloadConfig',
          summary: 'Re-read the config file, as SIGHUP does (admin keys only)',
          responses: { '200': json('The new config is running', NAMED.reload), ...errors(401, 403, 404, 422) },
        },
      },
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A key from the config file' } },
      responses: { Error: json("An error in OpenAI's shape", NAMED.error) },
      schemas: componentSchemas(),
    },
  }
}
