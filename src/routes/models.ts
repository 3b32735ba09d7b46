import { Hono } from 'hono'
import { auth } from '../auth/index.js'
import type { Principal } from '../auth/index.js'
import type { ModelConfig } from '../config/schema.js'
import type { Deps } from '../deps.js'
import type { AuthVariables } from '../auth/index.js'
import { gatewayError } from '../errors/gateway-error.js'

/** `GET /models` in OpenAI's list shape: the configured models this key may use. */
export const models = (deps: Deps) => {
  // Configuration time stands in for "created": stable for the life of the process.
  const created = Math.floor(deps.clock.now() / 1000)
  // `available`: whether any backend of the model (its own or a fallback) is healthy now. A model
  // stays listed when none is, rather than vanishing and turning a client's "model not found"
  // into a puzzle during a backend's restart; the flag says what to expect.
  const toModel = (m: ModelConfig) => ({
    id: m.id,
    object: 'model' as const,
    created,
    owned_by: m.ownedBy,
    available: [m.backend, ...m.fallbacks].some((name) => deps.pools.isHealthy(name)),
  })
  const visible = (principal: Principal) => deps.config.models.filter((m) => !principal.models || principal.models.includes(m.id))

  return new Hono<{ Variables: AuthVariables }>()
    .use(auth(deps))
    .get('/', (c) => c.json({ object: 'list', data: visible(c.get('principal')).map(toModel) }))
    .get('/:id{.+}', (c) => {
      const id = c.req.param('id')
      const model = visible(c.get('principal')).find((m) => m.id === id)
      if (!model) {
        throw gatewayError('model_not_found', {
          param: 'model',
          message: `The model \`${id.slice(0, 200)}\` does not exist or you do not have access to it.`,
        })
      }
      return c.json(toModel(model))
    })
}
