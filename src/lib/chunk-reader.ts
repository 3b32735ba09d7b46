import type { Readable } from 'node:stream'
import { ignoreErrors } from './drop-stream.js'
import { prematureClose } from './premature-close.js'

/** What read() gives once the stream has ended and everything in it has been read. */
export const END = Symbol('end')

/**
 * A Node stream read a chunk at a time without an async iterator. Node's iterator is an async
 * generator: every chunk costs its promises and turns, and a relay that is a generator itself pays
 * them twice, per event of a model's stream. Here a read is synchronous, and only a wait for data
 * that has not arrived is a promise. Like Node's iterator, a read gives everything buffered since
 * the last one, and nothing is read until asked (backpressure reaches the source).
 */
export class ChunkReader {
  private ended = false
  private failure: Error | undefined
  private wake: (() => void) | undefined
  private readonly wakeUp = () => {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
  private readonly onEnd = () => {
    this.ended = true
    this.wakeUp()
  }
  private readonly onError = (err: Error) => {
    this.failure ??= err
    this.wakeUp()
  }
  private readonly onClose = () => {
    // Closed before its end without an error of its own: cut off, as Node's own helpers call it.
    if (!this.ended) this.failure ??= prematureClose()
    this.wakeUp()
  }

  private listening = false

  constructor(private readonly stream: Readable) {}

  /**
   * Everything buffered since the last read (one chunk), `null` when nothing has come yet, or END.
   * Throws the stream's error, or a premature close, once what it buffered before has been read.
   */
  read(): Buffer | null | typeof END {
    if (!this.listening) this.listen()
    const chunk = this.stream.destroyed ? null : (this.stream.read() as Buffer | null)
    if (chunk !== null) return chunk
    if (this.failure !== undefined) throw this.failure
    return this.ended ? END : null
  }

  /** From the first read, as Node's iterator: a 'readable' listener makes the stream start reading. */
  private listen(): void {
    this.listening = true
    const { stream } = this
    if (stream.readableEnded) this.ended = true
    else if (stream.destroyed) this.failure = stream.errored ?? prematureClose()
    stream.on('readable', this.wakeUp)
    stream.on('end', this.onEnd)
    stream.on('error', this.onError)
    stream.on('close', this.onClose)
  }

  /** Resolves when read() may give something new: data, the end, an error, or close(). */
  readable(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve))
  }

  /**
   * Stops listening, and wakes a pending readable(). The stream's later errors are ignored: whoever
   * ends it (destroys it, or reads it out) expects them.
   */
  close(): void {
    this.wakeUp()
    if (!this.listening) return
    this.listening = false
    this.stream.off('readable', this.wakeUp)
    this.stream.off('end', this.onEnd)
    this.stream.off('close', this.onClose)
    this.stream.off('error', this.onError)
    ignoreErrors(this.stream)
  }
}
