import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { describe, expect, it } from 'vitest'
import { stepConfig } from '../../test/helpers/step-app.js'
import type { AppEnv } from '../env.js'
import { onError } from '../errors/respond.js'
import { createLogger } from '../lib/logger.js'
import { stepsInOrder } from '../lib/steps-in-order.js'
import { limitInFlight } from './in-flight.js'

// The whole cap, chat streams included, is tested through the app in test/app/overload.test.ts.
// Here: a request whose steps behind the cap answer without a promise is let go as they return.

describe('limitInFlight: steps that answer at once', () => {
  it('lets a request go as soon as steps that answered without a promise return', async () => {
    const admission = limitInFlight({ config: stepConfig({ server: { maxInFlightRequests: 1 } }) })
    const app = new Hono<AppEnv>()
    let answered = 0
    app.use(
      stepsInOrder(onError(createLogger('silent')), [
        admission,
        // hono types a step's answer as a promise; stepsInOrder takes one that is not.
        ((c: Context) => {
          answered++
          return c.text('at once')
        }) as unknown as MiddlewareHandler<AppEnv>,
      ]),
    )
    // Never reached (the step before answers), but with a route hono runs the steps as middleware.
    app.get('/v1/anything', (c) => c.text('the route', 500))
    for (let i = 0; i < 3; i++) expect((await app.request('/v1/anything')).status).toBe(200)
    expect(answered).toBe(3)
    await admission.idle()
  })
})
