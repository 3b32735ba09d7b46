import { gatewayError, type GatewayError } from './gateway-error.js'

/** A model's context window, and the room the request asks for its answer (max_tokens). */
export type ContextLimit = Readonly<{ contextWindow: number; completionTokens: number }>

/** A prompt that does not fit: its tokens, exact or a lower bound (`atLeast`), and the limit. */
export type PromptOverflow = Readonly<{ promptTokens: number; atLeast: boolean; limit: ContextLimit }>

/**
 * OpenAI's 400 for a prompt that cannot fit (and vLLM's, when prompt plus max_tokens cannot), with
 * both numbers. One wording whichever step finds it: the body parse, from a long text's size, or
 * the meter, from its count.
 */
export function contextLengthExceeded({ promptTokens, atLeast, limit }: PromptOverflow, model: string): GatewayError {
  const { contextWindow, completionTokens } = limit
  const prompt = `${atLeast ? 'at least ' : ''}${promptTokens}`
  const message =
    completionTokens > 0
      ? `This model's maximum context length is ${contextWindow} tokens (model \`${model}\`, models[].contextWindow). However, you requested ${prompt} + ${completionTokens} tokens (${prompt} in the messages, ${completionTokens} in the completion). Please reduce the length of the messages or completion.`
      : `This model's maximum context length is ${contextWindow} tokens (model \`${model}\`, models[].contextWindow). However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`
  return gatewayError('context_length_exceeded', { param: 'messages', message })
}
