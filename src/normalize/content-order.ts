import type { ChatMessage, ContentPart } from '../validate/index.js'

export type ContentOrderPolicy = 'reorder' | 'reject' | 'allow'

/** Index of the first user message whose text comes before one of its images, or -1. */
export function findTextBeforeImage(messages: readonly ChatMessage[]): number {
  return messages.findIndex((m) => m.role === 'user' && Array.isArray(m.content) && hasTextBeforeImage(m.content))
}

function hasTextBeforeImage(parts: readonly ContentPart[]): boolean {
  let seenText = false
  for (const part of parts) {
    if (part.type === 'text') seenText = true
    else if (seenText) return true
  }
  return false
}

/**
 * LLaVA's chat template renders images first, and the model was trained that way: move each user
 * message's image parts ahead of its text, keeping the order within each group. Returns the new
 * messages, the indexes of those it changed (untouched messages are the same objects), and for each
 * changed one where the client had put each part, in the new order (errors name the client's places).
 */
export function imagesFirst(messages: readonly ChatMessage[]): {
  messages: ChatMessage[]
  reordered: number[]
  clientPartOrder: Map<number, number[]>
} {
  const clientPartOrder = new Map<number, number[]>()
  const out = messages.map((message, i) => {
    if (message.role !== 'user' || !Array.isArray(message.content) || !hasTextBeforeImage(message.content)) {
      return message
    }
    const parts = message.content
    const isImage = (at: number) => parts[at]?.type === 'image_url'
    const places = parts.map((_part, at) => at)
    const order = [...places.filter(isImage), ...places.filter((at) => !isImage(at))]
    clientPartOrder.set(i, order)
    return { ...message, content: order.map((at) => parts[at] as ContentPart) }
  })
  // Messages are visited in order, so the map's keys are the changed indexes, ascending.
  return { messages: out, reordered: [...clientPartOrder.keys()], clientPartOrder }
}
