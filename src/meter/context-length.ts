import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import type { ContextLengthError } from './prompt-tokens.js'

/** OpenAI's 400 for a prompt that cannot fit (and vLLM's, when prompt plus max_tokens cannot), with both numbers. */
export function contextLengthExceeded(err: ContextLengthError, model: string): GatewayError {
  const { contextWindow, completionTokens } = err.limit
  const prompt = `${err.atLeast ? 'at least ' : ''}${err.promptTokens}`
  const message =
    completionTokens > 0
      ? `This model's maximum context length is ${contextWindow} tokens (model \`${model}\`, models[].contextWindow). However, you requested ${prompt} + ${completionTokens} tokens (${prompt} in the messages, ${completionTokens} in the completion). Please reduce the length of the messages or completion.`
      : `This model's maximum context length is ${contextWindow} tokens (model \`${model}\`, models[].contextWindow). However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`
  return gatewayError('context_length_exceeded', { param: 'messages', message })
}
