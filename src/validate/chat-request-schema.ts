import { z } from 'zod'

/**
 * The Chat Completions request, as far as the gateway needs to understand it.
 * Objects are loose: OpenAI adds parameters often, and unknown ones pass through to the backend untouched.
 */
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional()

export const TextPartSchema = z.looseObject({ type: z.literal('text'), text: z.string() })

export const ImagePartSchema = z.looseObject({
  type: z.literal('image_url'),
  image_url: z.looseObject({
    url: z.string().min(1),
    /** Accepted for compatibility; LLaVA-1.5 sees every image at 336x336 whatever this says. */
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
})

const PartSchema = z.discriminatedUnion('type', [TextPartSchema, ImagePartSchema])
const TextOnlyContent = z.union([z.string(), z.array(PartSchema).min(1)])

const SystemMessage = z.looseObject({ role: z.enum(['system', 'developer']), content: TextOnlyContent })
const UserMessage = z.looseObject({ role: z.literal('user'), content: z.union([z.string(), z.array(PartSchema).min(1)]) })
const AssistantMessage = z.looseObject({
  role: z.literal('assistant'),
  content: nullable(TextOnlyContent),
  tool_calls: z.array(z.looseObject({ id: z.string(), type: z.string() })).optional(),
})
const ToolMessage = z.looseObject({ role: z.literal('tool'), content: TextOnlyContent, tool_call_id: z.string() })

export const MessageSchema = z.discriminatedUnion('role', [SystemMessage, UserMessage, AssistantMessage, ToolMessage])

const ResponseFormatSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({ type: z.literal('json_schema'), json_schema: z.looseObject({ name: z.string() }) }),
])

export const ChatRequestSchema = z
  .looseObject({
    model: z.string().min(1),
    messages: z.array(MessageSchema).min(1),
    stream: nullable(z.boolean()),
    stream_options: nullable(z.looseObject({ include_usage: z.boolean().optional() })),
    temperature: nullable(z.number().min(0).max(2)),
    top_p: nullable(z.number().min(0).max(1)),
    n: nullable(z.int().min(1).max(128)),
    max_tokens: nullable(z.int().min(1)),
    max_completion_tokens: nullable(z.int().min(1)),
    stop: nullable(z.union([z.string(), z.array(z.string()).max(4)])),
    seed: nullable(z.int()),
    frequency_penalty: nullable(z.number().min(-2).max(2)),
    presence_penalty: nullable(z.number().min(-2).max(2)),
    logprobs: nullable(z.boolean()),
    top_logprobs: nullable(z.int().min(0).max(20)),
    logit_bias: nullable(z.record(z.string(), z.number().min(-100).max(100))),
    response_format: nullable(ResponseFormatSchema),
    tools: nullable(z.array(z.looseObject({ type: z.string() }))),
    tool_choice: nullable(z.union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.string() })])),
    parallel_tool_calls: nullable(z.boolean()),
    user: nullable(z.string()),
  })
  .superRefine((request, ctx) => {
    request.messages.forEach((message, i) => {
      if (message.role === 'user' || !Array.isArray(message.content)) return
      message.content.forEach((part, j) => {
        if (part.type !== 'image_url') return
        ctx.addIssue({
          code: 'custom',
          path: ['messages', i, 'content', j],
          message: `image_url parts are only allowed in user messages, not in a "${message.role}" message`,
        })
      })
    })
    if (request.stream_options != null && request.stream !== true) {
      ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'stream_options is only allowed when stream is true' })
    }
    if (request.top_logprobs != null && request.logprobs !== true) {
      ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'top_logprobs requires logprobs to be true' })
    }
  })
  // Its name in /openapi.json, which is generated from this schema.
  .meta({ id: 'CreateChatCompletionRequest' })

export type ChatRequest = z.output<typeof ChatRequestSchema>
export type ChatMessage = ChatRequest['messages'][number]
export type ContentPart = z.output<typeof PartSchema>
export type ImagePart = z.output<typeof ImagePartSchema>
