import type { Completion } from '../completion/completion.js'
import type { PromptCount } from '../completion/usage.js'
import type { PricingConfig } from '../config/schema.js'
import type { ChatRequest } from '../validate/index.js'
import { chargeFor } from './charge.js'
import type { Cost } from './counters.js'
import { reservationFor } from './reservation.js'

/** Tokens by how they are priced: the prompt's text, the prompt's images, the answer. */
export type PricedTokens = Readonly<{ text: number; image: number; completion: number }>

const PICOS_PER_MICRO = 1_000_000n

/**
 * What tokens cost at a model's prices, in micro-dollars rounded up. Exact: a price in dollars per
 * million tokens with at most 6 decimals (config refuses more) is a whole number of pico-dollars per
 * token, and the sum is taken in BigInt, so no rounding drifts between replicas or across requests.
 * A model without pricing costs nothing (config refuses one under a usd budget).
 */
export function microsFor(tokens: PricedTokens, pricing: PricingConfig | undefined): number {
  if (!pricing) return 0
  const picos = (usdPerMillion: number) => BigInt(Math.round(usdPerMillion * 1_000_000))
  const count = (n: number) => BigInt(Math.max(0, Math.round(n)))
  const total =
    count(tokens.text) * picos(pricing.prompt) +
    count(tokens.image) * picos(pricing.image ?? pricing.prompt) +
    count(tokens.completion) * picos(pricing.completion)
  return Number((total + PICOS_PER_MICRO - 1n) / PICOS_PER_MICRO)
}

/**
 * The most a request can cost, known before it is forwarded: the tokens `reservationFor` reserves,
 * and their price, its prompt's text and images apart (both counted exactly at admission).
 */
export function worstCaseCost(
  prompt: PromptCount,
  request: ChatRequest,
  defaultCompletionTokens: number,
  pricing: PricingConfig | undefined,
): Cost {
  const tokens = reservationFor(prompt.total, request, defaultCompletionTokens)
  const split = { text: prompt.total - prompt.imageTokens, image: prompt.imageTokens, completion: tokens - prompt.total }
  return { tokens, micros: microsFor(split, pricing) }
}

/**
 * What a finished request costs its key: the tokens `chargeFor` charges (nothing for a free cache
 * hit), and their price. The prompt's image part is the gateway's own count, at most the prompt
 * the backend reported; the rest of the prompt is text.
 */
export function actualCost(completion: Completion, hitsCharged: boolean, pricing: PricingConfig | undefined): Cost {
  const tokens = chargeFor(completion, hitsCharged)
  const usage = completion.usage
  if (tokens === 0 || !usage) return { tokens: 0, micros: 0 }
  const image = Math.min(usage.imageTokens, usage.usage.prompt_tokens)
  const split = { text: usage.usage.prompt_tokens - image, image, completion: usage.usage.completion_tokens }
  return { tokens, micros: microsFor(split, pricing) }
}
