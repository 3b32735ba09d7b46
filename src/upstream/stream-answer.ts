import type { Readable } from 'node:stream'
import { toWholeCompletion } from '../completion/whole-completion.js'
import type { AppDeps } from '../deps.js'
import { streamedBody } from '../lib/direct-body.js'
import { settledAsReported, settleUsage } from '../meter/index.js'
import type { SettledUsage } from '../completion/usage.js'
import { setStreamHeaders } from '../sse/frames.js'
import { relayStream } from '../sse/relay.js'
import { cacheStoresAnswer, type Ctx, type Exchange } from './exchange.js'
import { clientWantsUsage } from './upstream-body.js'
import type { ClientSignal } from '../lib/client-signal.js'

/** The backend's event stream relayed to the client; the request ends when the stream does, however it does. */
export function answerStream(
  c: Ctx,
  exchange: Exchange,
  body: Readable,
  { clock, tokens, config }: Pick<AppDeps, 'clock' | 'tokens' | 'config'>,
  signal: ClientSignal,
): Response {
  const backend = config.backends[exchange.backend]
  const prompt = c.get('prompt')
  const finish = c.get('finish')
  let firstTokenMs: number | undefined
  finish.handOff()
  setStreamHeaders(c)
  const stream = relayStream(body, {
    backend: exchange.backend,
    clientWantsUsage: clientWantsUsage(c.get('chatRequest')),
    assemble: cacheStoresAnswer(exchange),
    model: c.get('chatRequest').model,
    fillUsage: async (text) => (await settleUsage(prompt, undefined, () => text, tokens)).usage,
    // Lines are measured in characters (one to four bytes each): the bound on memory holds all the same.
    limits: { maxLineChars: backend?.maxStreamLineBytes ?? 1024 * 1024, maxTotalBytes: backend?.maxStreamBytes ?? 64 * 1024 * 1024 },
    signal,
    onFirstContent: () => (firstTokenMs = clock.now() - finish.startedAt),
    // settleUsage does not reject (a dead tokenizer worker falls back to an upper bound), so the
    // request always completes and its lease is always settled. Usage the backend reported is
    // settled at once, with no promise (most streams carry it).
    onEnd: (result) => {
      const ended = (usage: SettledUsage) => {
        const answer =
          result.outcome === 'completed' && result.assembled
            ? toWholeCompletion({ ...result.assembled, model: c.get('chatRequest').model }, usage.usage, clock.now())
            : undefined
        exchange.complete({
          outcome: result.outcome,
          status: 200,
          usage,
          ...(answer ? { answer } : {}),
          ...(result.error ? { error: { code: result.error.code, message: result.error.error.message } } : {}),
          ...(firstTokenMs === undefined ? {} : { firstTokenMs }),
        })
      }
      const reported = settledAsReported(prompt, result.reported)
      if (reported) ended(reported)
      else void settleUsage(prompt, result.reported, () => result.text, tokens).then(ended)
    },
  })
  return streamedBody(c, stream)
}
