import { gatewayError } from '../errors/gateway-error.js'

/**
 * Large CPU work (scanning a 32 MiB body, decoding and hashing a 20 MiB image), taken in turn. Each
 * such job gives the event loop back every millisecond or so, but eight of them at once put eight
 * slices ahead of every turn of every small request, and a small request takes many turns: its
 * latency grows with the number of large jobs in flight. One at a time (per slot), the large jobs
 * wait for each other, not the small requests for them. A job waits at most `maxWaitMs` for its
 * turn (then 503 overloaded, Retry-After), and no longer than its client stays.
 */
export class WorkGate {
  private running = 0
  private readonly queue: Array<() => void> = []

  constructor(
    private readonly slots: number,
    private readonly maxWaitMs: number,
  ) {}

  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      return await work()
    } finally {
      this.release()
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    if (this.running < this.slots) {
      this.running++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const leave = (err: Error) => {
        const at = this.queue.indexOf(turn)
        if (at >= 0) this.queue.splice(at, 1)
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        reject(err)
      }
      const turn = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = () => leave(signal?.reason instanceof Error ? signal.reason : new Error('The client left.'))
      const timer = setTimeout(
        () =>
          leave(
            gatewayError('overloaded', {
              message: `Large requests are queued for the gateway's CPU; this one waited ${this.maxWaitMs} ms. Retry shortly.`,
              headers: { 'retry-after': '1' },
            }),
          ),
        this.maxWaitMs,
      )
      if (signal?.aborted) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.queue.push(turn)
    })
  }

  private release(): void {
    const next = this.queue.shift()
    // The slot passes straight to the next job in line: nobody can slip in between.
    if (next) next()
    else this.running--
  }
}

/**
 * Bodies and images above this size take their turn at the gate; smaller ones never wait. Work on
 * a few megabytes is over in a few slices, and queueing it costs more than it saves (a 1 MiB image
 * at one job at a time: a third more CPU per request).
 */
export const LARGE_WORK_BYTES = 4 << 20
