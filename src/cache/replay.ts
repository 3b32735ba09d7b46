import type { CachedCompletion } from './entry.js'

/** A cached answer as a non-streamed chat completion. */
export function replayJson(entry: CachedCompletion): Record<string, unknown> {
  return {
    id: entry.id,
    object: 'chat.completion',
    created: entry.created,
    model: entry.model,
    ...(entry.system_fingerprint ? { system_fingerprint: entry.system_fingerprint } : {}),
    choices: entry.choices,
    usage: entry.usage,
  }
}

/**
 * A cached answer as the SSE a backend would send: a role chunk, the content, a finish chunk per
 * choice, the usage chunk when the client asked for it, then [DONE].
 */
export function replayStream(entry: CachedCompletion, includeUsage: boolean): ReadableStream<Uint8Array> {
  const base = {
    id: entry.id,
    object: 'chat.completion.chunk',
    created: entry.created,
    model: entry.model,
    ...(entry.system_fingerprint ? { system_fingerprint: entry.system_fingerprint } : {}),
  }
  const usageField = includeUsage ? { usage: null } : {}
  const chunk = (choices: unknown[]) => ({ ...base, choices, ...usageField })
  const chunks: unknown[] = []
  for (const choice of entry.choices) {
    const { role, content, ...rest } = choice.message
    chunks.push(
      chunk([{ index: choice.index, delta: { role, content: content === null ? null : '' }, logprobs: null, finish_reason: null }]),
    )
    const delta: Record<string, unknown> = { ...rest }
    if (content !== null && content !== '') delta['content'] = content
    if (Array.isArray(rest['tool_calls'])) {
      delta['tool_calls'] = (rest['tool_calls'] as Array<Record<string, unknown>>).map((call, index) => ({ index, ...call }))
    }
    if (Object.keys(delta).length > 0) chunks.push(chunk([{ index: choice.index, delta, logprobs: choice.logprobs, finish_reason: null }]))
    chunks.push(chunk([{ index: choice.index, delta: {}, logprobs: null, finish_reason: choice.finish_reason }]))
  }
  if (includeUsage) chunks.push({ ...base, choices: [], usage: entry.usage })
  const text = `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`
  const bytes = new TextEncoder().encode(text)
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    },
  })
}
