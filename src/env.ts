import type { RequestIdVariables } from 'hono/request-id'
import type { ReplyVariables } from './reply/reply.js'
import type { AuthVariables } from './auth/index.js'
import type { AnswerCapVariables } from './budget/answer-cap.js'
import type { CacheVariables } from './cache/index.js'
import type { FinishVariables } from './completion/finish-line.js'
import type { ImagesVariables } from './images/index.js'
import type { MeterVariables } from './meter/index.js'
import type { NormalizeVariables } from './normalize/index.js'
import type { ValidateVariables } from './validate/index.js'

/** What the chat steps leave on the context, all of it: each step declares the part it sets. */
export type ChatVariables = FinishVariables &
  AuthVariables &
  ValidateVariables &
  NormalizeVariables &
  ImagesVariables &
  MeterVariables &
  AnswerCapVariables &
  CacheVariables

/**
 * The app as a whole: the request id on every route; the chat steps' variables only where the chat
 * route set them (a 404, a health probe or an early refusal has none of them).
 */
export type AppEnv = { Variables: RequestIdVariables & Partial<ReplyVariables> & Partial<ChatVariables> }

export type ChatEnv = { Variables: RequestIdVariables & Partial<ReplyVariables> & ChatVariables }
