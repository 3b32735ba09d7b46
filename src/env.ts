import type { RequestIdVariables } from 'hono/request-id'
import type { ModelConfig } from './config/schema.js'
import type { Principal } from './auth/principal.js'
import type { RequestImage } from './images/image-identity.js'
import type { ChatRequest } from './validate/chat-request-schema.js'

/** What each pipeline step leaves on the context for the next ones. */
export type AppVariables = RequestIdVariables & {
  principal: Principal
  chatRequest: ChatRequest
  model: ModelConfig
  /** Indexes of messages whose image parts were moved ahead of their text. */
  reorderedMessages: readonly number[]
  /** Every image part, checked and hashed, in request order. */
  images: readonly RequestImage[]
}

export type AppEnv = { Variables: AppVariables }
