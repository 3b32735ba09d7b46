import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { createLabeler } from '../metrics/labels.js'
import { countPromptTokens } from './prompt-tokens.js'
import { RequestUsage } from './request-usage.js'
import { toPromptMessages } from './to-prompt-messages.js'

/**
 * Step 5: the prompt's exact token count, known before the request is forwarded (budgets reserve
 * with it), and the request's usage account → `usage` on the context.
 */
export const countTokens = ({ config, metrics }: Pick<Deps, 'config' | 'metrics'>): MiddlewareHandler<AppEnv> => {
  const labeler = createLabeler(config)
  return async function countPrompt(c, next) {
    const model = c.get('model')
    const images = c.get('images')
    const prompt = countPromptTokens(toPromptMessages(c.get('chatRequest').messages, images), {
      template: model.chatTemplate,
      imagePolicy: model.imageTokens,
    })
    const who = labeler.who(c.get('principal'), model)
    for (const image of images) metrics.images.inc({ model: who.model, source: image.identity.source })
    c.set('usage', new RequestUsage(prompt, who, metrics, config.cache.hitsCountTowardUsage))
    await next()
  }
}
