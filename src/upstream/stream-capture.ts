import { StreamAssembler } from '../cache/assemble-stream.js'
import type { CacheSink } from '../cache/sink.js'
import type { RequestUsage } from '../meter/request-usage.js'
import type { StreamObserver } from './relay-stream.js'

/**
 * Hands the cache a stream's answer once it ended normally ([DONE] after every choice finished),
 * assembled into the non-streamed shape with the settled usage; anything else is abandoned.
 */
export function streamCapture(sink: CacheSink, usage: RequestUsage): StreamObserver {
  const assembler = new StreamAssembler()
  return {
    chunk: (chunk) => assembler.add(chunk),
    async end(outcome) {
      const settled = usage.result
      if (outcome === 'completed' && settled) await sink.complete({ ...assembler.completion(), usage: settled.usage }, settled)
      else sink.abandon()
    },
  }
}

/** Several observers of one stream, told in order; the first one answers `missingUsage`. */
export function combineObservers(first: StreamObserver, ...rest: StreamObserver[]): StreamObserver {
  const all = [first, ...rest]
  return {
    chunk: (chunk) => all.forEach((o) => o.chunk?.(chunk)),
    usage: (usage) => all.forEach((o) => o.usage?.(usage)),
    missingUsage: () => first.missingUsage?.(),
    async end(outcome) {
      for (const observer of all) await observer.end?.(outcome)
    },
  }
}
