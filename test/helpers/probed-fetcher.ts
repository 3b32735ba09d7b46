import type { ImageFetcher } from '../../src/image-fetch/image-fetcher.js'

export type ReservationEvent =
  | { kind: 'asked'; url: string; amount: number }
  | { kind: 'granted'; url: string; amount: number }
  | { kind: 'refused'; url: string; amount: number }

/**
 * Wraps an image fetcher so a test can see the gateway-wide byte budget at work without timing:
 * each reservation the fetcher asks for, and whether it was granted or refused, is recorded in
 * order, and `next(kind, url)` resolves when that event happens. (Releases are not seen: the
 * images step holds the reservation itself and releases it when the response is done.) Everything else passes through,
 * so the wrapped fetcher keeps its own (loopback) network.
 */
export function probedFetcher(inner: ImageFetcher) {
  const events: ReservationEvent[] = []
  const waiting: Array<{ matches: (e: ReservationEvent) => boolean; resolve: () => void }> = []
  const record = (event: ReservationEvent) => {
    events.push(event)
    for (const w of waiting.filter((w) => w.matches(event))) {
      waiting.splice(waiting.indexOf(w), 1)
      w.resolve()
    }
  }
  const fetcher: ImageFetcher = {
    fetch: (url, options) =>
      inner.fetch(url, {
        ...options,
        async reserveBytes(amount) {
          record({ kind: 'asked', url, amount })
          const release = await options.reserveBytes(amount)
          record({ kind: release ? 'granted' : 'refused', url, amount })
          return release
        },
      }),
    close: () => inner.close(),
  }
  /** Resolves when an event of `kind` for a URL ending in `path` has happened (already, or later). */
  const next = (kind: ReservationEvent['kind'], path: string): Promise<void> => {
    const matches = (e: ReservationEvent) => e.kind === kind && e.url.endsWith(path)
    if (events.some(matches)) return Promise.resolve()
    return new Promise((resolve) => waiting.push({ matches, resolve }))
  }
  return { fetcher, events, next }
}
