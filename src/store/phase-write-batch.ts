/** What the batch needs of a socket: Node's cork and uncork. */
export type Corkable = { cork(): void; uncork(): void; readonly writable: boolean }

/**
 * Holds the Redis commands a replica issues during one phase of the event loop and sends them as
 * one write when the phase ends. Each socket write is a system call, and on loopback the kernel
 * also runs the receiver's side of TCP inside it: measured under load, the two writes a request
 * made (reserve, settle) cost more than all the rest of its Redis work. Under load many requests
 * reach the store in one phase, so their commands now share one write (and their replies one read).
 *
 * How long a write is held: until the event loop's next check phase (setImmediate). For a command
 * issued while handling I/O (a request's bytes, a Redis reply), the usual case, that is the end of
 * the current poll phase, and it costs the reply nothing: replies are read in a poll phase, and the
 * one running now could not have read it anyway. A pending immediate keeps the next poll from
 * blocking. Unlike ioredis's auto-pipelining, nothing waits for an earlier batch's replies, so a
 * command never waits a round trip to leave; and a call's deadline starts only when its write
 * leaves (see `hold`), so a long phase is not counted against Redis.
 */
export class PhaseWriteBatch {
  private held: Corkable[] = []
  private sent: Promise<void> | undefined
  private markSent: () => void = () => undefined

  /** `sockets` lists the connections commands may go out on now (several on a cluster). */
  constructor(private readonly sockets: () => Iterable<Corkable | undefined>) {}

  /**
   * Called before a command is issued: the first call in a phase corks the sockets until it ends.
   * Resolves once the held writes have left, so a deadline counts Redis's time, not this phase's
   * (undefined when nothing is held: no socket is writable).
   */
  hold(): Promise<void> | undefined {
    if (this.sent) return this.sent
    for (const socket of this.sockets()) {
      if (!socket?.writable) continue
      socket.cork()
      this.held.push(socket)
    }
    if (this.held.length === 0) return undefined
    this.sent = new Promise<void>((resolve) => (this.markSent = resolve))
    setImmediate(this.release)
    return this.sent
  }

  private readonly release = (): void => {
    const held = this.held
    this.held = []
    this.sent = undefined
    for (const socket of held) socket.uncork()
    this.markSent()
  }
}
