import type { Context, MiddlewareHandler, Next } from 'hono'
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
}: Pick<AppDeps, 'metrics' | 'labels' | 'tokens'>): MiddlewareHandler<{ Variables: Reads & MeterVariables }> => {
  // Not async: most prompts are counted at once, and an async step costs every request a promise.
  return function countPrompt(c, next) {
    const model = c.get('model')
    const request = c.get('chatRequest')
    const limit = { contextWindow: model.contextWindow, completionTokens: request.max_completion_tokens ?? request.max_tokens ?? 0 }
    const prompt = withinWindow(model.id, () =>
      countPromptTokensWithin(
        toPromptMessages(request.messages, c.get('requestImages')),
        { template: model.chatTemplate, imagePolicy: model.imageTokens },
        tokens,
        limit,
      ),
    )
    if (!(prompt instanceof Promise)) return counted(c, next, prompt)
    return prompt.then((settled) => counted(c, next, settled))
  }

  function counted(c: Context<{ Variables: Reads & MeterVariables }>, next: Next, prompt: PromptTokenCount) {
    const model = c.get('model')
    const who = labels.who(c.get('principal'), model)
    for (const image of c.get('requestImages')) metrics.images.inc({ model: who.model, source: image.identity.source })
    c.set('prompt', prompt)
    c.get('finish').whenDone((completion) => recordTokens(metrics, who, prompt, completion))
    return next()
  }
}

/** The count, with a prompt too long for the model's window refused as the client's error, thrown or rejected as it came. */
function withinWindow(
  modelId: string,
  count: () => PromptTokenCount | Promise<PromptTokenCount>,
): PromptTokenCount | Promise<PromptTokenCount> {
  const refused = (err: unknown): never => {
    if (err instanceof ContextLengthError) throw contextLengthExceeded(err, modelId)
    throw err
  }
  try {
    const prompt = count()
    return prompt instanceof Promise ? prompt.catch(refused) : prompt
  } catch (err) {
    return refused(err)
  }
}

// What later steps use of this one: how a request's final usage is settled.
export { settledAsReported, settleUsage } from './settle-usage.js'
