import type { RequestImage } from '../images/index.js'
import type { ChatMessage } from '../validate/index.js'
import type { PromptMessage } from './prompt-tokens.js'

/**
 * The request as the token counter sees it: text parts as text, image parts with the dimensions
 * the images step read from their bytes. Tool-call arguments are not part of LLaVA's template and
 * are not counted.
 */
export function toPromptMessages(messages: readonly ChatMessage[], images: readonly RequestImage[]): PromptMessage[] {
  const sizes = new Map(images.map((image) => [`${image.messageIndex}:${image.partIndex}`, image.identity]))
  return messages.map((message, messageIndex): PromptMessage => {
    const content = message.content
    if (content === undefined || content === null || typeof content === 'string') return { role: message.role, content: content ?? null }
    return {
      role: message.role,
      content: content.map((part, partIndex) => {
        if (part.type === 'text') return { type: 'text' as const, text: part.text }
        const size = sizes.get(`${messageIndex}:${partIndex}`)
        // Every image part was resolved by the images step; 336x336 only guards a broken invariant.
        return {
          type: 'image' as const,
          width: size?.width ?? 336,
          height: size?.height ?? 336,
          ...(part.image_url.detail ? { detail: part.image_url.detail } : {}),
        }
      }),
    }
  })
}
