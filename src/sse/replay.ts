import type { WholeCompletion } from '../completion/whole-completion.js'
import { dataFrame, DONE_FRAME, frameBytes } from './frames.js'
import { FrameSource } from './pull-stream.js'

/**
 * A whole completion as the SSE a backend would send: a role chunk, the content, a finish chunk
 * per choice, the usage chunk when the client asked for it, then [DONE]. One buffer: it is small.
 */
export function replayFrames(whole: WholeCompletion, includeUsage: boolean): Uint8Array {
  const base = {
    id: whole.id,
    object: 'chat.completion.chunk',
    created: whole.created,
    model: whole.model,
    ...(whole.system_fingerprint ? { system_fingerprint: whole.system_fingerprint } : {}),
  }
  const usageField = includeUsage ? { usage: null } : {}
  const chunk = (choices: unknown[]) => ({ ...base, choices, ...usageField })
  const chunks: unknown[] = []
  for (const choice of whole.choices) {
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
  if (includeUsage) chunks.push({ ...base, choices: [], usage: whole.usage })
  let frames = ''
  for (const c of chunks) frames += dataFrame(JSON.stringify(c))
  return frameBytes(frames + DONE_FRAME)
}

/** The replay as a stream; `onEnd` is told once, when the client has read it all (false) or left (true). */
export function replayStream(
  whole: WholeCompletion,
  includeUsage: boolean,
  onEnd: (cancelled: boolean) => void = () => undefined,
): FrameSource {
  async function* frames(): AsyncGenerator<Uint8Array, void> {
    yield replayFrames(whole, includeUsage)
  }
  return new FrameSource(frames(), { end: onEnd })
}
