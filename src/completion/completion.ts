import type { SettledUsage } from './usage.js'
import type { WholeCompletion } from './whole-completion.js'

/**
 * How a chat request ended. `completed`: the whole answer reached the client. `upstream_error`: the
 * backend failed (an error status, a broken stream, a timeout). `client_aborted`: the client left
 * first. `rejected`: the gateway refused it before any backend worked on it (a bad request, a budget).
 */
export type CompletionOutcome = 'completed' | 'upstream_error' | 'client_aborted' | 'rejected'

/** What the response cache did for the request, for metric labels. */
export type CacheResult = 'hit' | 'miss' | 'refresh' | 'bypass' | 'none'

/**
 * One chat request's end, told once to everyone who cares: the cache stores `answer`, the budget
 * settles from `usage`, metering counts it, and the access log and request metrics record it.
 */
export type Completion = Readonly<{
  outcome: CompletionOutcome
  /** The HTTP status the client got (200 for a stream, even one that ended in an error frame). */
  status: number
  /** The backend that answered, when one did; absent for cache hits and refusals. */
  backend?: string
  /** Which of the backend's replicas answered (a name from the config). */
  replica?: string
  cache: CacheResult
  /** The whole answer, when the outcome is completed and every choice finished. */
  answer?: WholeCompletion
  /** Tokens, whenever a backend (or the cache) produced any, even for a stream cut short. */
  usage?: SettledUsage
  /** The error the client got, when there was one: a catalogue code or the backend's own. */
  error?: Readonly<{ code: string; message: string }>
  /** Backend time (request sent to last byte) and time to the first content chunk, in milliseconds. */
  upstreamMs?: number
  firstTokenMs?: number
}>
