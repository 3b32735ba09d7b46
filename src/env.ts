import type { RequestIdVariables } from 'hono/request-id'
import type { ModelConfig } from './config/schema.js'
import type { Principal } from './auth/principal.js'
import type { RequestImage } from './images/image-identity.js'
import type { RequestUsage } from './meter/request-usage.js'
import type { CacheSink } from './cache/sink.js'
import type { ChatRequest } from './validate/chat-request-schema.js'

/** What each pipeline step leaves on the context for the next ones. */
export type AppVariables = RequestIdVariables & {
  /** When the request arrived (the injected clock), for latency and time to first token. */
  startedAt: number
  principal: Principal
  chatRequest: ChatRequest
  model: ModelConfig
  /** Indexes of messages whose image parts were moved ahead of their text. */
  reorderedMessages: readonly number[]
  /** Every image part, checked and hashed, in request order. */
  images: readonly RequestImage[]
  /** The request's token account: prompt counted at admission, settled once with the response. */
  usage: RequestUsage
  /** Set by the cache step on a miss: where the upstream step hands a complete answer. */
  cacheSink: CacheSink | undefined
}

export type AppEnv = { Variables: AppVariables }
