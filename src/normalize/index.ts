import type { MiddlewareHandler } from 'hono'
import type { Deps } from '../deps.js'
import type { AppEnv } from '../env.js'
import { createLabeler } from '../metrics/labels.js'
import { gatewayError } from '../errors/gateway-error.js'
import { findTextBeforeImage, imagesFirst } from './content-order.js'

export const REORDERED_HEADER = 'x-gateway-reordered-messages'

/** Step 3: apply the model's content order policy; say in a header which messages were reordered. */
export const normalize = ({ config, metrics }: Pick<Deps, 'config' | 'metrics'>): MiddlewareHandler<AppEnv> => {
  const labeler = createLabeler(config)
  return async function normalizeContentOrder(c, next) {
    const request = c.get('chatRequest')
    const policy = c.get('model').contentOrder
    let reordered: number[] = []
    if (policy === 'reject') {
      const index = findTextBeforeImage(request.messages)
      if (index >= 0) {
        throw gatewayError('text_before_image', {
          param: `messages[${index}].content`,
          message: `messages[${index}] has text before an image; model \`${c.get('model').id}\` needs every image part before the text parts of its message.`,
        })
      }
    } else if (policy === 'reorder') {
      const result = imagesFirst(request.messages)
      reordered = result.reordered
      if (reordered.length > 0) c.set('chatRequest', { ...request, messages: result.messages })
    }
    c.set('reorderedMessages', reordered)
    if (reordered.length > 0) {
      c.header(REORDERED_HEADER, reordered.join(','))
      metrics.contentReorders.inc({ model: labeler.modelLabel(c.get('model')) }, reordered.length)
    }
    await next()
  }
}
