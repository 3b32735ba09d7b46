import { isRecord } from '../lib/is-record.js'
import type { DataUrlPayloads } from '../lib/json-scan.js'

/**
 * The body parse keeps every long plain data URL's payload as the body's bytes, wherever it stands,
 * and leaves a placeholder in its place (lib/json-scan.ts). Only an image part's URL is read as an
 * image and forwarded as those bytes (the images and upstream steps). Any other (a text that is a
 * data URL, an unknown parameter) gets its whole value back here, so the tokenizer counts it and the
 * backend gets it as it was sent, not a placeholder. Walks the body only when there are payloads.
 */
export function keepOnlyImagePayloads(body: Record<string, unknown>, payloads: DataUrlPayloads): void {
  if (payloads.size === 0) return
  const images = new Set<string>()
  const messages = body['messages']
  for (const message of Array.isArray(messages) ? messages : []) {
    const content = isRecord(message) ? message['content'] : undefined
    for (const part of Array.isArray(content) ? content : []) {
      const image = isRecord(part) && part['type'] === 'image_url' ? part['image_url'] : undefined
      if (isRecord(image) && typeof image['url'] === 'string') images.add(image['url'])
    }
  }
  if ([...payloads.keys()].every((placeholder) => images.has(placeholder))) return
  restoreOutside(body, payloads, images)
}

/** Puts each payload not in `images` back into its string, wherever it stands in `value`. */
function restoreOutside(value: unknown, payloads: DataUrlPayloads, images: ReadonlySet<string>): unknown {
  if (typeof value === 'string') {
    const payload = images.has(value) ? undefined : payloads.get(value)
    if (!payload) return value
    payloads.delete(value)
    return `${value.slice(0, value.indexOf(',') + 1)}${payload.toString('utf8')}`
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreOutside(value[i], payloads, images)
  } else if (isRecord(value)) {
    for (const key of Object.keys(value)) value[key] = restoreOutside(value[key], payloads, images)
  }
  return value
}
