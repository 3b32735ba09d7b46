import { isRecord } from '../lib/is-record.js'

type Building = {
  role: string
  content: string[]
  refusal: string[]
  toolCalls: Map<number, { id?: unknown; type?: unknown; name: string[]; arguments: string[] }>
  logprobs: unknown[] | undefined
  finish: string | undefined
}

/**
 * Rebuilds a chat completion from the chunks of a stream as they pass: content and refusal text
 * concatenated, tool calls merged by index, logprobs appended. The result has the shape of a
 * non-streamed completion, so the cache stores one kind of entry.
 */
export class StreamAssembler {
  private readonly choices = new Map<number, Building>()
  private envelope: Record<string, unknown> = {}

  add(chunk: Record<string, unknown>): void {
    if (this.choices.size === 0) {
      this.envelope = { id: chunk['id'], created: chunk['created'], model: chunk['model'], system_fingerprint: chunk['system_fingerprint'] }
    }
    const choices = chunk['choices']
    if (!Array.isArray(choices)) return
    for (const choice of choices) {
      if (!isRecord(choice)) continue
      const index = typeof choice['index'] === 'number' ? choice['index'] : 0
      const building = this.choice(index)
      const delta = isRecord(choice['delta']) ? choice['delta'] : {}
      if (typeof delta['role'] === 'string') building.role = delta['role']
      if (typeof delta['content'] === 'string') building.content.push(delta['content'])
      if (typeof delta['refusal'] === 'string') building.refusal.push(delta['refusal'])
      if (Array.isArray(delta['tool_calls'])) this.addToolCalls(building, delta['tool_calls'])
      const logprobs = isRecord(choice['logprobs']) ? choice['logprobs']['content'] : undefined
      if (Array.isArray(logprobs)) building.logprobs = [...(building.logprobs ?? []), ...(logprobs as unknown[])]
      if (typeof choice['finish_reason'] === 'string') building.finish = choice['finish_reason']
    }
  }

  /** The completion so far, in the non-streamed shape (choices without a finish reason keep null). */
  completion(): Record<string, unknown> {
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, b]) => {
        const text = b.content.join('')
        // Backends open tool-call and refusal answers with `content: ""`; such an answer has no content (null).
        const content = text === '' && (b.content.length === 0 || b.toolCalls.size > 0 || b.refusal.length > 0) ? null : text
        const message: Record<string, unknown> = { role: b.role, content }
        if (b.refusal.length > 0) message['refusal'] = b.refusal.join('')
        if (b.toolCalls.size > 0) {
          message['tool_calls'] = [...b.toolCalls.values()].map((call) => ({
            id: call.id,
            type: call.type ?? 'function',
            function: { name: call.name.join(''), arguments: call.arguments.join('') },
          }))
        }
        return { index, message, logprobs: b.logprobs ? { content: b.logprobs } : null, finish_reason: b.finish ?? null }
      })
    return { ...this.envelope, object: 'chat.completion', choices }
  }

  private choice(index: number): Building {
    let building = this.choices.get(index)
    if (!building) {
      building = { role: 'assistant', content: [], refusal: [], toolCalls: new Map(), logprobs: undefined, finish: undefined }
      this.choices.set(index, building)
    }
    return building
  }

  private addToolCalls(building: Building, calls: unknown[]): void {
    for (const call of calls) {
      if (!isRecord(call)) continue
      const index = typeof call['index'] === 'number' ? call['index'] : 0
      let merged = building.toolCalls.get(index)
      if (!merged) {
        merged = { name: [], arguments: [] }
        building.toolCalls.set(index, merged)
      }
      if (call['id'] !== undefined) merged.id = call['id']
      if (call['type'] !== undefined) merged.type = call['type']
      const fn = isRecord(call['function']) ? call['function'] : {}
      if (typeof fn['name'] === 'string') merged.name.push(fn['name'])
      if (typeof fn['arguments'] === 'string') merged.arguments.push(fn['arguments'])
    }
  }
}
