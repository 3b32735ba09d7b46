// Prompt token estimate for a chat request, before it goes upstream (the budget reserves it).
// Upstream `usage.prompt_tokens` is the truth when present; this must be close, not exact.
import { imageTokens, type ImageDetail, type ImageTokenPolicy } from './image-tokens.js'
import { countTextTokens } from './text-tokens.js'

export type PromptTextPart = { type: 'text'; text: string }
export type PromptImagePart = { type: 'image'; width: number; height: number; detail?: ImageDetail }
export type PromptMessage = {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool'
  content: string | null | ReadonlyArray<PromptTextPart | PromptImagePart>
}

export type PromptTemplate = 'llava-1.5' | 'plain'
export type PromptTokenCount = { textTokens: number; imageTokens: number; images: number; total: number }

export function countPromptTokens(
  messages: readonly PromptMessage[],
  opts: { template: PromptTemplate; imagePolicy: ImageTokenPolicy },
): PromptTokenCount {
  const counted = opts.template === 'llava-1.5' ? countLlava15(messages, opts.imagePolicy) : countPlain(messages, opts.imagePolicy)
  return { ...counted, total: counted.textTokens + counted.imageTokens }
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
function countLlava15(messages: readonly PromptMessage[], policy: ImageTokenPolicy): Omit<PromptTokenCount, 'total'> {
  const { segments, images } = renderLlava15(messages)
  let textTokens = 0
  segments.forEach((segment, i) => {
    const first = i === 0
    textTokens += countTextTokens(segment, { bos: first, precedingSpace: first })
  })
  return { textTokens, imageTokens: sumImageTokens(images, policy), images: images.length }
}

// ---- plain -----------------------------------------------------------------------------------

/**
 * An estimate, not a template: chat templates of other models wrap each message in a few
 * role/separator tokens, approximated as a flat 4 per message (OpenAI's cookbook uses 3–4 for
 * its own models). Text is counted with the Llama tokenizer, whatever the model's real one is.
 */
export const PLAIN_TOKENS_PER_MESSAGE = 4

function countPlain(messages: readonly PromptMessage[], policy: ImageTokenPolicy): Omit<PromptTokenCount, 'total'> {
  let textTokens = 0
  const images: PromptImagePart[] = []
  for (const message of messages) {
    textTokens += PLAIN_TOKENS_PER_MESSAGE
    for (const part of contentParts(message.content)) {
      // Each part starts a new run of text after a role header, hence the prefix space, no BOS.
      if (part.type === 'text') textTokens += countTextTokens(part.text, { bos: false, precedingSpace: true })
      else images.push(part)
    }
  }
  return { textTokens, imageTokens: sumImageTokens(images, policy), images: images.length }
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
