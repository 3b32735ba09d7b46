import type { MiddlewareHandler } from 'hono'
import type { AuthVariables } from '../auth/index.js'
import type { FinishVariables } from '../completion/finish-line.js'
import type { AppDeps } from '../deps.js'
import { contextLengthExceeded } from '../errors/context-length.js'
import type { ImagesVariables } from '../images/index.js'
import type { ValidateVariables } from '../validate/index.js'
import { ContextLengthError, countPromptTokensWithin, type PromptTokenCount } from './prompt-tokens.js'
import { recordTokens } from './record-tokens.js'
import { toPromptMessages } from './to-prompt-messages.js'

export type MeterVariables = {
  /** The prompt's exact token count, known before anything is forwarded. */
  prompt: PromptTokenCount
}

type Reads = FinishVariables & AuthVariables & ValidateVariables & ImagesVariables

/**
 * Step 5: the prompt's exact token count, known before the request is forwarded (budgets reserve
 * with it) → `prompt` on the context; once the request has finished, its tokens are metered.
 */
export const countTokens = ({
  metrics,
  labels,
  tokens,
}: Pick<AppDeps, 'metrics' | 'labels' | 'tokens'>): MiddlewareHandler<{ Variables: Reads & MeterVariables }> =>
  async function countPrompt(c, next) {
    const model = c.get('model')
    const request = c.get('chatRequest')
    const images = c.get('requestImages')
    const limit = { contextWindow: model.contextWindow, completionTokens: request.max_completion_tokens ?? request.max_tokens ?? 0 }
    let prompt: PromptTokenCount
    try {
      prompt = await countPromptTokensWithin(
        toPromptMessages(request.messages, images),
        { template: model.chatTemplate, imagePolicy: model.imageTokens },
        tokens,
        limit,
      )
    } catch (err) {
      if (err instanceof ContextLengthError) throw contextLengthExceeded(err, model.id)
      throw err
    }
    const who = labels.who(c.get('principal'), model)
    for (const image of images) metrics.images.inc({ model: who.model, source: image.identity.source })
    c.set('prompt', prompt)
    c.get('finish').whenDone((completion) => recordTokens(metrics, who, prompt, completion))
    await next()
  }

// What later steps use of this one: how a request's final usage is settled.
export { settledAsReported, settleUsage } from './settle-usage.js'
