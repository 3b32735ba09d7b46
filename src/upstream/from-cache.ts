import type { Context } from 'hono'
import type { CachedCompletion } from '../cache/index.js'
import { toChatCompletionBody } from '../completion/whole-completion.js'
import type { Clock } from '../lib/clock.js'
import { setStreamHeaders } from '../sse/frames.js'
import { streamedBody } from '../lib/direct-body.js'
import { replayStream } from '../sse/replay.js'
import { replyJsonText, setHeader } from '../reply/reply.js'
import type { UpstreamReads } from './exchange.js'
import { clientWantsUsage } from './upstream-body.js'
import { USAGE_SOURCE_HEADER } from './usage-header.js'

/**
 * A hit's JSON body, made once per parsed entry: the cache shares its parsed entries between
 * requests, frozen (cache/parsed-entries.ts), so a popular answer is serialised once, not per hit.
 */
const jsonBodies = new WeakMap<CachedCompletion, string>()

function jsonBodyOf(entry: CachedCompletion): string {
  let text = jsonBodies.get(entry)
  if (text === undefined) {
    text = JSON.stringify(toChatCompletionBody(entry))
    // An entry parsed for this hit alone (too large to keep parsed) is not worth a WeakMap entry.
    if (Object.isFrozen(entry)) jsonBodies.set(entry, text)
  }
  return text
}

/** A cache hit, answered as JSON or replayed as a stream, whichever the request asked for. */
export function answerFromCache(c: Context<{ Variables: UpstreamReads }>, entry: CachedCompletion, clock: Clock): Response {
  const finish = c.get('finish')
  const request = c.get('chatRequest')
  const complete = (outcome: 'completed' | 'client_aborted') =>
    finish.complete({
      outcome,
      status: 200,
      cache: 'hit',
      usage: { usage: entry.usage, source: entry.usageSource, imageTokens: c.get('prompt').imageTokens },
      ...(outcome === 'completed' ? { answer: entry } : {}),
    })
  setHeader(c, 'age', String(Math.max(0, Math.floor((clock.now() - entry.storedAt) / 1000))))
  setHeader(c, USAGE_SOURCE_HEADER, entry.usageSource)
  if (request.stream !== true) {
    complete('completed')
    return replyJsonText(c, jsonBodyOf(entry))
  }
  finish.handOff()
  setStreamHeaders(c)
  return streamedBody(
    c,
    replayStream(entry, clientWantsUsage(request), (cancelled) => complete(cancelled ? 'client_aborted' : 'completed')),
  )
}
