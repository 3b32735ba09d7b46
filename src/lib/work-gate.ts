import { gatewayError } from '../errors/gateway-error.js'
import { WeightedSemaphore } from './weighted-semaphore.js'

/** A turn at the gate that may run out: see WorkGate.lease. */
export type Lease = Readonly<{ keep(): boolean; release(): void }>

/**
 * Large CPU work (reading and scanning a 32 MiB body, decoding and hashing a 20 MiB image), taken
 * in turn. Each such job gives the event loop back every millisecond or so, but eight of them at
 * once put eight slices ahead of every turn of every small request, and a small request takes many
 * turns: its latency grows with the number of large jobs in flight. One at a time (per slot), the
 * large jobs wait for each other, not the small requests for them. A job waits at most `maxWaitMs`
 * for its turn (then 503 overloaded, Retry-After), and no longer than its client stays.
 */
export class WorkGate {
  private readonly slots: WeightedSemaphore

  constructor(
    slots: number,
    private readonly maxWaitMs: number,
  ) {
    this.slots = new WeightedSemaphore(slots)
  }

  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.turn(signal)
    try {
      return await work()
    } finally {
      release()
    }
  }

  /**
   * A turn for work that waits on a client as well as the CPU (reading a large body): it ends when
   * released, or `leaseMs` after it began, whichever comes first, so a client that sends slowly
   * holds up the jobs behind it for `leaseMs` at most. `keep()` ends the lease's clock once the
   * waiting is over: it says whether the turn is still this holder's, and if so it lasts until released.
   */
  async lease(leaseMs: number, signal?: AbortSignal): Promise<Lease> {
    const release = await this.turn(signal)
    let held = true
    const end = () => {
      clearTimeout(expiry)
      held = false
      release()
    }
    const expiry = setTimeout(end, leaseMs)
    return {
      keep: () => {
        clearTimeout(expiry)
        return held
      },
      release: end,
    }
  }

  /** A slot, once it is this caller's turn; released by calling what it resolves with (more calls do nothing). */
  private async turn(signal?: AbortSignal): Promise<() => void> {
    const release = await this.slots.acquire(1, this.maxWaitMs, signal)
    if (release) return release
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('The client left.')
    throw gatewayError('overloaded', {
      message: `Large requests are queued for the gateway's CPU; this one waited ${this.maxWaitMs} ms. Retry shortly.`,
      headers: { 'retry-after': '1' },
    })
  }
}

/**
 * Bodies and images above this size take their turn at the gate; smaller ones never wait. Work on
 * a few megabytes is over in a few slices, and queueing it costs more than it saves (a 1 MiB image
 * at one job at a time: a third more CPU per request).
 */
export const LARGE_WORK_BYTES = 4 << 20
