import { isRecord } from '../lib/is-record.js'

/** OpenAI's `usage` object as the gateway sends it; backends add keys of their own, which pass through. */
export type Usage = {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { image_tokens?: number; [key: string]: unknown }
  [key: string]: unknown
}

/** Where a response's token counts came from: the backend's `usage`, or the gateway's own count. */
export type UsageSource = 'upstream' | 'gateway'

/** A request's final token numbers, and where they came from. */
export type SettledUsage = Readonly<{ usage: Usage; source: UsageSource; imageTokens: number }>

/** The prompt as the gateway counted it at admission. */
export type PromptCount = Readonly<{ total: number; imageTokens: number }>

/** A backend usage object we can trust for numbers: prompt and completion counts present. */
export function reportedUsage(value: unknown): Usage | undefined {
  if (!isRecord(value)) return undefined
  const prompt = value['prompt_tokens']
  const completion = value['completion_tokens']
  if (!isCount(prompt) || !isCount(completion)) return undefined
  const total = value['total_tokens']
  return { ...value, prompt_tokens: prompt, completion_tokens: completion, total_tokens: isCount(total) ? total : prompt + completion }
}

/** Usage built by the gateway when the backend reported none. */
export function gatewayUsage(prompt: PromptCount, completionTokens: number): Usage {
  return {
    prompt_tokens: prompt.total,
    completion_tokens: completionTokens,
    total_tokens: prompt.total + completionTokens,
    prompt_tokens_details: { image_tokens: prompt.imageTokens },
  }
}

/**
 * Tokenizers round differently around special tokens (protocol-notes §3.3: ±1-2 for LLaVA), so a
 * small gap is noise; a bigger one means the backend counts images differently (wrong model, wrong
 * anyres setting) and an operator should look.
 */
export function isUsageMismatch(reportedPromptTokens: number, countedPromptTokens: number): boolean {
  return Math.abs(reportedPromptTokens - countedPromptTokens) > 2 + 0.01 * countedPromptTokens
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0
}
