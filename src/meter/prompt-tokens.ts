// Prompt token count for a chat request, before it goes upstream (the budget reserves it and the
// context window is checked with it). Upstream `usage.prompt_tokens` is the truth when present.
import type { ContextLimit, PromptOverflow } from '../errors/context-length.js'
import { imageTokens, type ImageDetail, type ImageTokenPolicy } from './image-tokens.js'
import { minTextTokens } from './pieces.js'
import { countTextTokens } from './text-tokens.js'
import type { TokenCounter } from './token-counter.js'

export type PromptTextPart = { type: 'text'; text: string }
export type PromptImagePart = { type: 'image'; width: number; height: number; detail?: ImageDetail }
export type PromptMessage = {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool'
  content: string | null | ReadonlyArray<PromptTextPart | PromptImagePart>
}

export type PromptTemplate = 'llava-1.5' | 'plain'
export type PromptTokenCount = { textTokens: number; imageTokens: number; images: number; total: number }

/** One run of prompt text to count, with where it sits: BOS and the dummy-prefix space only at the start. */
export type TextRun = Readonly<{ text: string; bos: boolean; precedingSpace: boolean }>

/** The prompt as the tokenizer will see it: its texts, tokens every message adds, and its images. */
export type PromptPlan = Readonly<{ texts: readonly TextRun[]; fixedTokens: number; images: readonly PromptImagePart[] }>

export type PromptOptions = { template: PromptTemplate; imagePolicy: ImageTokenPolicy }

export function planPrompt(messages: readonly PromptMessage[], template: PromptTemplate): PromptPlan {
  return template === 'llava-1.5' ? planLlava15(messages) : planPlain(messages)
}

/** The exact count, synchronously: for short prompts and tests. The gateway uses countPromptTokensWithin. */
export function countPromptTokens(messages: readonly PromptMessage[], opts: PromptOptions): PromptTokenCount {
  const plan = planPrompt(messages, opts.template)
  let textTokens = plan.fixedTokens
  for (const run of plan.texts) textTokens += countTextTokens(run.text, run)
  return total(textTokens, plan, opts.imagePolicy)
}

/** The prompt (plus the answer it asks room for) does not fit the model's context window. */
export class ContextLengthError extends Error implements PromptOverflow {
  override readonly name = 'ContextLengthError'
  constructor(
    /** Prompt tokens: exact, or a lower bound when `atLeast` (the text was too long to be worth counting). */
    readonly promptTokens: number,
    readonly atLeast: boolean,
    readonly limit: ContextLimit,
  ) {
    super(`the prompt needs ${atLeast ? 'at least ' : ''}${promptTokens} tokens; the context window is ${limit.contextWindow}`)
  }
}

/**
 * The exact count, refused before any tokenizing when even a lower bound does not fit `limit`
 * (no token covers more than 16 characters), and counted without holding the event loop
 * (TokenCounter) otherwise: so the work a prompt can cost is what a window-sized prompt costs.
 * A number, not a promise, when every text was counted at once (most prompts are); a refusal is
 * then thrown, not rejected.
 */
export function countPromptTokensWithin(
  messages: readonly PromptMessage[],
  opts: PromptOptions,
  counter: Pick<TokenCounter, 'count'>,
  limit: ContextLimit,
): PromptTokenCount | Promise<PromptTokenCount> {
  const plan = planPrompt(messages, opts.template)
  const imageTokens = sumImageTokens(plan.images, opts.imagePolicy)
  let lowerBound = imageTokens + plan.fixedTokens
  for (const run of plan.texts) lowerBound += (run.bos ? 1 : 0) + minTextTokens(run.text, run.precedingSpace)
  if (lowerBound + limit.completionTokens > limit.contextWindow) throw new ContextLengthError(lowerBound, true, limit)
  let textTokens = plan.fixedTokens
  for (let i = 0; i < plan.texts.length; i++) {
    const run = plan.texts[i] as TextRun
    const counted = counter.count(run.text, run)
    if (typeof counted !== 'number') return countOn(counted, i + 1)
    textTokens += counted
  }
  return withinLimit(total(textTokens, plan, opts.imagePolicy), limit)

  // One text at a time, as before: counting them all at once would run each one's first slice back to back.
  async function countOn(counting: Promise<number>, next: number): Promise<PromptTokenCount> {
    textTokens += await counting
    for (const run of plan.texts.slice(next)) textTokens += await counter.count(run.text, run)
    return withinLimit(total(textTokens, plan, opts.imagePolicy), limit)
  }
}

function withinLimit(counted: PromptTokenCount, limit: ContextLimit): PromptTokenCount {
  if (counted.total + limit.completionTokens > limit.contextWindow) throw new ContextLengthError(counted.total, false, limit)
  return counted
}

function total(textTokens: number, plan: PromptPlan, policy: ImageTokenPolicy): PromptTokenCount {
  const imageTokens = sumImageTokens(plan.images, policy)
  return { textTokens, imageTokens, images: plan.images.length, total: textTokens + imageTokens }
}

// ---- llava-1.5 -------------------------------------------------------------------------------

/** The rendered prompt cut at each image: `segments.join('<image>')` is the template's output. */
export type Llava15Prompt = { segments: readonly string[]; images: readonly PromptImagePart[] }

const GENERATION_PROMPT = 'ASSISTANT:'

/**
 * The llava-hf/llava-1.5 chat template (protocol-notes §3.3): `ROLE: ` unless system, then
 * `<image>\n` per image, then each text part + ' ', and `ASSISTANT:` to prompt the reply.
 * Images are cut out structurally, from the parts, so a literal "<image>" typed in a text part
 * stays text here. Roles are upper-cased as the template does, `developer` included: mapping it
 * to `system` is the caller's decision, and the count follows whatever is actually sent.
 */
export function renderLlava15(messages: readonly PromptMessage[]): Llava15Prompt {
  const segments: string[] = []
  const images: PromptImagePart[] = []
  let current = ''
  for (const message of messages) {
    if (message.role !== 'system') current += `${message.role.toUpperCase()}: `
    const parts = contentParts(message.content)
    // The template renders all images of a message first, whatever their order among the text.
    for (const part of parts) {
      if (part.type !== 'image') continue
      segments.push(current)
      images.push(part)
      current = '\n'
    }
    for (const part of parts) {
      if (part.type === 'text') current += `${part.text} `
    }
  }
  segments.push(current + GENERATION_PROMPT)
  return { segments, images }
}

/**
 * Each `<image>` becomes the policy's image features, so the text between images is tokenized
 * in pieces: BOS and SentencePiece's dummy-prefix space only on the first piece (that is where
 * HF puts them); later pieces continue the sequence after the image token, so they get neither.
 * This reproduces §3.3's worked example: "USER: " → 5 with BOS, "\nWhat is in this image?
 * ASSISTANT:" → 12 without a prefix space (13 with one), + 576 = 593.
 */
function planLlava15(messages: readonly PromptMessage[]): PromptPlan {
  const { segments, images } = renderLlava15(messages)
  return {
    texts: segments.map((text, i) => ({ text, bos: i === 0, precedingSpace: i === 0 })),
    fixedTokens: 0,
    images,
  }
}

// ---- plain -----------------------------------------------------------------------------------

/**
 * An estimate, not a template: chat templates of other models wrap each message in a few
 * role/separator tokens, approximated as a flat 4 per message (OpenAI's cookbook uses 3–4 for
 * its own models). Text is counted with the Llama tokenizer, whatever the model's real one is.
 */
export const PLAIN_TOKENS_PER_MESSAGE = 4

function planPlain(messages: readonly PromptMessage[]): PromptPlan {
  const texts: TextRun[] = []
  const images: PromptImagePart[] = []
  for (const message of messages) {
    for (const part of contentParts(message.content)) {
      // Each part starts a new run of text after a role header, hence the prefix space, no BOS.
      if (part.type === 'text') texts.push({ text: part.text, bos: false, precedingSpace: true })
      else images.push(part)
    }
  }
  return { texts, fixedTokens: PLAIN_TOKENS_PER_MESSAGE * messages.length, images }
}

// ---- shared ----------------------------------------------------------------------------------

// String content is one text part (what vLLM does before applying the template); null (an
// assistant turn that only carries tool calls) renders no content.
function contentParts(content: PromptMessage['content']): ReadonlyArray<PromptTextPart | PromptImagePart> {
  if (content === null) return []
  if (typeof content === 'string') return [{ type: 'text', text: content }]
  return content
}

function sumImageTokens(images: readonly PromptImagePart[], policy: ImageTokenPolicy): number {
  let total = 0
  for (const image of images) total += imageTokens(policy, image, image.detail)
  return total
}
