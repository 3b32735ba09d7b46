import type { MiddlewareHandler } from 'hono'
import type { AuthVariables } from '../auth/index.js'
import type { ModelConfig } from '../config/schema.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { isBodyMemoryWatched, releaseBodyMemory } from '../lib/body-memory.js'
import { ChatRequestSchema, type ChatRequest } from './chat-request-schema.js'
import { describeIssues } from './describe-issue.js'
import { imagePartUrls } from './image-payloads.js'
import { readJsonBody } from './read-json-body.js'
import { refuseTextBeyondWindow } from './text-beyond-window.js'

/**
 * The request's bytes as the client sent them, when long data URLs' payloads are views of them,
 * and how many such views there are.
 */
export type ClientBody = Readonly<{ bytes: Buffer; payloadViews: number }>

export type ValidateVariables = {
  chatRequest: ChatRequest
  model: ModelConfig
  /** Image parts' long data URLs' payloads as the body's bytes, by the placeholder URL in `chatRequest` (see readJsonBody). */
  dataUrlPayloads: ReadonlyMap<string, Buffer>
  /**
   * The body's bytes as the client sent them, when long data URLs' payloads are views of them (and
   * so keep them in memory anyway), and how many views: forwarded rather than copied where the
   * backend's body would be the same bytes (see upstream/client-body.ts). Undefined otherwise, so
   * a text body is not held past its parse.
   */
  clientBody: ClientBody | undefined
}

/** Step 2: the body → `chatRequest` and the configured model → `model` on the context. */
export const validate = ({
  config,
  largeWork,
}: Pick<AppDeps, 'config' | 'largeWork'>): MiddlewareHandler<{
  Variables: Partial<FinishVariables> & AuthVariables & ValidateVariables
}> => {
  const models = new Map(config.models.map((m) => [m.id, m]))

  // Not async: the body's read is the one wait, and an async step around it would cost a promise
  // and the turns of two awaits more.
  return function validateChatRequest(c, next) {
    const allowed = c.get('principal').models
    const usable = (id: string) => {
      const model = models.get(id)
      return model && (!allowed || allowed.includes(model.id)) ? model : undefined
    }
    // A text too long for the model it names is refused before it is decoded (text-beyond-window.ts),
    // and only image parts' data URLs are kept as bytes (image-payloads.ts).
    const { bodyLimitBytes, maxJsonDepth } = config.server
    const rules = { bodyLimitBytes, maxJsonDepth, beforeDecode: refuseTextBeyondWindow(usable), payloadsAt: imagePartUrls }
    return readJsonBody(c, rules, largeWork).then(({ body, payloads, bytes }) => {
      // Once the request is over no step reads its body again, and the memory goes back (lib/body-memory.ts).
      // Only a watched body has any: most requests add no listener.
      if (isBodyMemoryWatched(bytes)) c.get('finish')?.whenDone(() => releaseBodyMemory(bytes))
      // reportInput (the offending values, for the error message) costs zod its fast path: it is
      // asked for only when describing a request that failed.
      const parsed = ChatRequestSchema.safeParse(body)
      if (!parsed.success)
        throw describeIssues(ChatRequestSchema.safeParse(body, { reportInput: true }).error?.issues ?? parsed.error.issues)
      const request = parsed.data
      const model = usable(request.model)
      if (!model) {
        throw gatewayError('model_not_found', {
          param: 'model',
          message: `The model \`${request.model.slice(0, 200)}\` does not exist or you do not have access to it.`,
        })
      }
      c.set('chatRequest', request)
      c.set('model', model)
      c.set('dataUrlPayloads', payloads)
      c.set('clientBody', payloads.size > 0 ? { bytes, payloadViews: payloads.size } : undefined)
      return next()
    })
  }
}

// What later steps use of this one: the request's types.
export type { ChatMessage, ChatRequest, ContentPart } from './chat-request-schema.js'
