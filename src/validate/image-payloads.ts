import { isRecord } from '../lib/is-record.js'

/**
 * The strings that stand at image parts' URLs in a parsed body: where the body parse keeps a long
 * plain data URL's payload as the body's bytes (see parseJson in lib/json-parse.ts), for the images
 * step to decode in slices and the upstream step to forward as they are. A data URL anywhere else
 * (a message's text, an unknown parameter) is decoded where it stands, so the tokenizer counts it
 * and the backend gets it as it was sent. Read from the body before the schema has checked it:
 * anything not shaped as an image part is passed over, and the schema refuses it later.
 */
export function imagePartUrls(body: unknown): Set<string> {
  const urls = new Set<string>()
  const messages = isRecord(body) ? body['messages'] : undefined
  for (const message of Array.isArray(messages) ? messages : []) {
    const content = isRecord(message) ? message['content'] : undefined
    for (const part of Array.isArray(content) ? content : []) {
      const image = isRecord(part) && part['type'] === 'image_url' ? part['image_url'] : undefined
      if (isRecord(image) && typeof image['url'] === 'string') urls.add(image['url'])
    }
  }
  return urls
}
