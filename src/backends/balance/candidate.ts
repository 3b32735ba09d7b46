/** What the balancing policies read of a replica: its weight and load, and a seed for hashing. */
export type Candidate = {
  readonly name: string
  readonly weight: number
  /** A 32-bit hash of the name: rendezvous scores follow names, not positions in the list. */
  readonly seed: number
  /** Requests sent and not yet finished (a stream until its last byte). */
  outstanding: number
  /** A moving average of how long its requests take (ms, sent to last byte); breaks ties between equally loaded replicas. */
  latencyMs: number
  /** Smooth weighted round robin's running score. */
  current: number
}
