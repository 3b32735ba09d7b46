import type { ModelConfig } from '../config/schema.js'
import { contextLengthExceeded } from '../errors/context-length.js'
import { isRecord } from '../lib/is-record.js'
import type { BeforeDecode } from '../lib/json-parse.js'
import { minTokensOfChars } from '../lib/token-floor.js'

/** The most bytes one character (a UTF-16 code unit) of a JSON string takes in a body: `\uXXXX`. */
const MAX_BYTES_PER_CHAR = 6

/**
 * A check of the body while its long texts are still undecoded (see parseJson's BeforeDecode): when
 * it names a model the key may use, and its messages' text, at the fewest tokens it could possibly
 * be, cannot fit that model's context window beside the room asked for the answer, it is refused
 * with the meter's own 400. A long text is at least a sixth of its bytes in characters, and every
 * character of a message's text reaches the tokenizer (both templates keep them all), so the bound
 * is never above the meter's: what this refuses, the meter would have refused too, only after
 * decoding the text. A 32 MiB text cost 95 ms of CPU to refuse that way, most of it never needed.
 * Whatever this cannot judge (no such model, a malformed body) it leaves to the checks that
 * follow, which say what is wrong.
 */
export function refuseTextBeyondWindow(modelNamed: (id: string) => ModelConfig | undefined): BeforeDecode {
  return (body, longStringBytes) => {
    if (!isRecord(body) || typeof body['model'] !== 'string' || !Array.isArray(body['messages'])) return
    const model = modelNamed(body['model'])
    if (!model) return
    let chars = 0
    const add = (text: unknown) => {
      if (typeof text !== 'string') return
      const bytes = longStringBytes(text)
      chars += bytes === undefined ? text.length : Math.ceil(bytes / MAX_BYTES_PER_CHAR)
    }
    for (const message of body['messages']) {
      const content = isRecord(message) ? message['content'] : undefined
      if (!Array.isArray(content)) add(content)
      else for (const part of content) if (isRecord(part) && part['type'] === 'text') add(part['text'])
    }
    const limit = { contextWindow: model.contextWindow, completionTokens: answerRoom(body) }
    const promptTokens = minTokensOfChars(chars)
    if (promptTokens + limit.completionTokens > limit.contextWindow) {
      throw contextLengthExceeded({ promptTokens, atLeast: true, limit }, model.id)
    }
  }
}

/** The room asked for the answer, read as the meter reads it; 0 for a value the schema refuses anyway. */
function answerRoom(body: Record<string, unknown>): number {
  const asked = body['max_completion_tokens'] ?? body['max_tokens'] ?? 0
  return typeof asked === 'number' && Number.isSafeInteger(asked) && asked > 0 ? asked : 0
}
