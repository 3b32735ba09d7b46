import type { Readable } from 'node:stream'

/** The stream is dropped: the error its destruction emits is expected, and nobody reads it any more. */
export function dropStream(stream: Readable): void {
  ignoreErrors(stream)
  stream.destroy()
}

/** Errors a stream nobody reads any more may still emit (a reset, a timeout) are expected, not a crash. */
export function ignoreErrors(stream: Readable): void {
  stream.on('error', () => undefined)
}
