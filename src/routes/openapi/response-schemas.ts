import { z } from 'zod'

/**
 * Answers the gateway sends that no route parses: written down here for /openapi.json only. Loose
 * where the backend's answer passes through (OpenAI adds fields), exact where the gateway writes it.
 */

export const ErrorResponseSchema = z
  .strictObject({
    error: z.strictObject({
      message: z.string(),
      type: z.string().meta({ description: '`invalid_request_error`, `authentication_error`, `rate_limit_error` or `server_error`.' }),
      param: z.string().nullable(),
      code: z.string().nullable().meta({ description: 'Why, from the gateway error catalogue (README).' }),
    }),
  })
  .meta({ id: 'ErrorResponse', description: "OpenAI's error body: all four fields always present." })

export const ModelSchema = z
  .strictObject({
    id: z.string(),
    object: z.literal('model'),
    created: z.int(),
    owned_by: z.string(),
    available: z.boolean().meta({ description: 'Whether a backend of the model (its own or a fallback) is healthy now.' }),
  })
  .meta({ id: 'Model' })

export const ModelListSchema = z.strictObject({ object: z.literal('list'), data: z.array(ModelSchema) }).meta({ id: 'ModelList' })

const UsageCountsSchema = z.looseObject({ prompt_tokens: z.int(), completion_tokens: z.int(), total_tokens: z.int() })

export const ChatCompletionSchema = z
  .looseObject({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.int(),
    model: z.string(),
    choices: z.array(
      z.looseObject({
        index: z.int(),
        message: z.looseObject({ role: z.literal('assistant'), content: z.string().nullable() }),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: UsageCountsSchema.optional(),
  })
  .meta({
    id: 'ChatCompletion',
    description: 'With `stream: true` the answer is `text/event-stream` of `chat.completion.chunk` events instead.',
  })

export const ReloadResultSchema = z
  .strictObject({ status: z.literal('reloaded'), warnings: z.array(z.string()) })
  .meta({ id: 'ReloadResult' })
