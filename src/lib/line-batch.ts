/** What the batch writes to: pino's SonicBoom destination, or anything that writes text (and may flush). */
export type LineSink = { write(text: string): unknown; flush?(cb: (err?: Error) => void): void; flushSync?(): void }

/**
 * A log destination that hands its sink every line written in one turn of the event loop as one
 * string, at the turn's end (setImmediate). Under load a turn answers many requests, and one access
 * line each was one SonicBoom write each: a UTF-8 length of the whole buffered text per line, and
 * a trip through libuv's thread pool per line or two. Unloaded, a turn has one line and it is
 * written when it would have been. The sink keeps doing the I/O (retries, backpressure, its flush
 * at exit); lines still waiting here are handed to it at `flush`, `flushSync` and process exit.
 */
export class LineBatch {
  private lines: string[] = []
  private scheduled = false
  private readonly release = () => this.handOver()

  constructor(private readonly sink: LineSink) {}

  write(line: string): boolean {
    this.lines.push(line)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.release)
    }
    return true
  }

  /** pino's logger.flush(): the waiting lines to the sink, then the sink's own flush. */
  flush(cb: (err?: Error) => void = () => undefined): void {
    this.handOver()
    if (this.sink.flush) this.sink.flush(cb)
    else cb()
  }

  /** At exit or shutdown: every line written before this returns. */
  flushSync(): void {
    this.handOver()
    this.sink.flushSync?.()
  }

  private handOver(): void {
    this.scheduled = false
    if (this.lines.length === 0) return
    const text = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join('')
    this.lines = []
    this.sink.write(text)
  }
}

/** The batch's waiting lines are written at process exit too: a crash's last words among them. */
export function flushedAtExit(batch: LineBatch): LineBatch {
  process.once('exit', () => batch.flushSync())
  return batch
}
