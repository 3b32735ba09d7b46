import type { BackendConfig } from '../config/schema.js'
import type { ChatMessage, ChatRequest } from '../validate/index.js'
import { toDataUrl, type ImageIdentity, type RequestImage } from './image-identity.js'

/**
 * The request as the backend gets it. `data`: every image part carries the exact bytes the gateway
 * checked and hashed, as a canonical base64 data URL with the sniffed type, so the model sees what
 * was hashed and backends that cannot fetch (Ollama, llama-server) just work. `url`: http(s) parts
 * carry the URL the gateway fetched, as its own parser serialised it after checking it (never the
 * client's string, which another parser may read as a different host), and the backend downloads
 * it again itself: less gateway bandwidth, but a second, unguarded fetch that may see other bytes.
 */
export function withForwardedImages(
  request: ChatRequest,
  images: readonly RequestImage[],
  backend: BackendConfig,
  inlineUrl: (image: ImageIdentity) => string = toDataUrl,
): ChatRequest {
  if (images.length === 0) return request
  const byLocation = new Map(images.map((image) => [`${image.messageIndex}:${image.partIndex}`, image]))
  const messages = request.messages.map((message, messageIndex): ChatMessage => {
    if (message.role !== 'user' || !Array.isArray(message.content)) return message
    const content = message.content.map((part, partIndex) => {
      const image = byLocation.get(`${messageIndex}:${partIndex}`)
      if (part.type !== 'image_url' || !image) return part
      const checkedUrl = backend.imageForwarding === 'url' ? image.identity.fetchedUrl : undefined
      return { ...part, image_url: { ...part.image_url, url: checkedUrl ?? inlineUrl(image.identity) } }
    })
    return { ...message, content }
  })
  return { ...request, messages }
}
