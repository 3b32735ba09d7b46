import { Hono } from 'hono'
import { auth } from '../auth/index.js'
import { capAnswer } from '../budget/answer-cap.js'
import { budget } from '../budget/index.js'
import { cache } from '../cache/index.js'
import { finishLine } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import type { ChatEnv } from '../env.js'
import { images } from '../images/index.js'
import { countTokens } from '../meter/index.js'
import { normalize } from '../normalize/index.js'
import { upstream } from '../upstream/index.js'
import { validate } from '../validate/index.js'
import { onError } from '../errors/respond.js'
import { stepsInOrder } from '../lib/steps-in-order.js'

/** The pipeline, in order: each step reads what the ones before it left on the context, and none looks back. */
export const chatCompletions = (deps: AppDeps) =>
  new Hono<ChatEnv>().post(
    '/',
    // One handler for hono, not ten: see stepsInOrder for what that saves every request.
    stepsInOrder(onError(deps.log), [
      finishLine(deps),
      auth(deps),
      validate(deps),
      normalize(deps),
      images(deps),
      countTokens(deps),
      capAnswer(deps),
      cache(deps),
      budget(deps),
      upstream(deps),
    ]),
  )
