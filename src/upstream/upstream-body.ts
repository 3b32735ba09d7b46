import type { BackendConfig, ModelConfig } from '../config/schema.js'
import type { ChatRequest } from '../validate/index.js'

/** Backends whose OpenAI endpoint accepts `stream_options.include_usage` (TGI's does not document it). */
export function supportsStreamUsage(backend: BackendConfig): boolean {
  return backend.streamUsage ?? backend.kind !== 'tgi'
}

/**
 * The request the backend sees: the client's, with the backend's model name, the normalized
 * messages, and (on streams) usage always requested, so every stream can be metered.
 * Unknown parameters pass through untouched.
 */
export function upstreamBody(
  request: ChatRequest,
  model: ModelConfig,
  backendName: string,
  backend: BackendConfig,
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...request, model: backendModelName(model, backendName) }
  if (request.stream !== true) return body
  // A backend that takes stream_options always gets include_usage, so every stream can be metered;
  // one that does not (TGI) gets none at all, the client's included: the gateway fills the usage chunk.
  if (supportsStreamUsage(backend)) body['stream_options'] = { ...request.stream_options, include_usage: true }
  else delete body['stream_options']
  return body
}

/** The name a backend knows the model by. */
export function backendModelName(model: ModelConfig, backendName: string): string {
  return model.backendModels[backendName] ?? model.upstreamModel ?? model.id
}

/** Whether the client itself asked to see the usage chunk. */
export function clientWantsUsage(request: ChatRequest): boolean {
  return request.stream === true && request.stream_options?.include_usage === true
}
