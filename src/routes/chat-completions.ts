import { Hono } from 'hono'
import { auth } from '../auth/index.js'
import { budget } from '../budget/index.js'
import { cache } from '../cache/index.js'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { images } from '../images/index.js'
import { countTokens } from '../meter/index.js'
import { normalize } from '../normalize/index.js'
import { upstream } from '../upstream/index.js'
import { validate } from '../validate/index.js'

/** The pipeline, in order: each step reads what the ones before it left on `c.var`. */
export const chatCompletions = (deps: Deps) =>
  new Hono<AppEnv>().post(
    '/',
    auth(deps),
    validate(deps),
    normalize(deps),
    images(deps),
    countTokens(deps),
    cache(deps),
    budget(deps),
    upstream(deps),
  )
