import type { MiddlewareHandler } from 'hono'
import type { AppDeps } from '../deps.js'
import { gatewayError } from '../errors/gateway-error.js'
import { setHeader } from '../reply/reply.js'
import type { ValidateVariables } from '../validate/index.js'
import { findTextBeforeImage, imagesFirst } from './content-order.js'

export const REORDERED_HEADER = 'x-gateway-reordered-messages'

export type NormalizeVariables = {
  /** Indexes of messages whose image parts were moved ahead of their text. */
  reorderedMessages: readonly number[]
  /** For each reordered message, the client's index of each of its parts, in their new order. */
  clientPartOrder: ReadonlyMap<number, readonly number[]>
}

const NOTHING_REORDERED: ReadonlyMap<number, readonly number[]> = new Map()

/** Step 3: apply the model's content order policy; say in a header which messages were reordered. */
export const normalize = ({
  metrics,
  labels,
}: Pick<AppDeps, 'metrics' | 'labels'>): MiddlewareHandler<{ Variables: ValidateVariables & NormalizeVariables }> =>
  // Not async: it has nothing to do after next(), and an async step costs every request a promise
  // and two more turns of the microtask queue as the chain unwinds.
  function normalizeContentOrder(c, next) {
    const request = c.get('chatRequest')
    const model = c.get('model')
    let reordered: number[] = []
    let clientPartOrder = NOTHING_REORDERED
    if (model.contentOrder === 'reject') {
      const index = findTextBeforeImage(request.messages)
      if (index >= 0) {
        throw gatewayError('text_before_image', {
          param: `messages[${index}].content`,
          message: `messages[${index}] has text before an image; model \`${model.id}\` needs every image part before the text parts of its message.`,
        })
      }
    } else if (model.contentOrder === 'reorder') {
      const result = imagesFirst(request.messages)
      reordered = result.reordered
      clientPartOrder = result.clientPartOrder
      if (reordered.length > 0) c.set('chatRequest', { ...request, messages: result.messages })
    }
    c.set('reorderedMessages', reordered)
    c.set('clientPartOrder', clientPartOrder)
    if (reordered.length > 0) {
      setHeader(c, REORDERED_HEADER, reordered.join(','))
      metrics.contentReorders.inc({ model: labels.modelLabel(model) }, reordered.length)
    }
    return next()
  }
