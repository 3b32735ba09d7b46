import { StringDecoder } from 'node:string_decoder'

export type SseEvent = { event: string | undefined; data: string }

/**
 * Bounds on what a backend may send. A line (or an event's joined data) past `maxLineChars`, or a
 * stream past `maxTotalBytes`, is a broken or hostile backend: the parser throws `SseLimitError`
 * instead of buffering without end.
 */
export type SseLimits = Readonly<{ maxLineChars: number; maxTotalBytes: number }>

export const UNLIMITED: SseLimits = { maxLineChars: Number.POSITIVE_INFINITY, maxTotalBytes: Number.POSITIVE_INFINITY }

export class SseLimitError extends Error {
  override readonly name = 'SseLimitError'
  constructor(readonly limit: 'line' | 'total') {
    super(limit === 'line' ? 'an event stream line is longer than the limit' : 'the event stream is longer than the limit')
  }
}

/**
 * Incremental text/event-stream parser (WHATWG HTML §9.2.6): feed it bytes as they arrive, in any
 * split, and it returns the complete events so far. Lines end in \n, \r\n or \r; `data:` lines join
 * with \n; comments and unknown fields are ignored; an event ends at a blank line.
 *
 * Each byte is scanned once: an unfinished line is kept as pieces and joined only when its end
 * arrives, so a backend that sends one endless line costs linear time, and at most `maxLineChars`.
 */
export class SseParser {
  // StringDecoder, not TextDecoder: a streaming TextDecoder costs four times as much per chunk on
  // Node 20. Both keep a character split between chunks for the next one and replace invalid bytes
  // with U+FFFD; the byte order mark TextDecoder would drop is dropped by `text`.
  private readonly decoder = new StringDecoder('utf8')
  private atStart = true
  private partial: string[] = []
  private partialChars = 0
  private data: string[] = []
  private dataChars = 0
  private event: string | undefined
  private pendingCr = false
  private totalBytes = 0

  constructor(private readonly limits: SseLimits = UNLIMITED) {}

  push(chunk: Uint8Array): SseEvent[] {
    this.totalBytes += chunk.byteLength
    if (this.totalBytes > this.limits.maxTotalBytes) throw new SseLimitError('total')
    return this.consume(this.text(this.decoder.write(chunk)))
  }

  /** Call once at end of input: an event not closed by a blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const events = this.consume(this.text(this.decoder.end()))
    this.partial = []
    this.partialChars = 0
    return events
  }

  /** Decoded text, without the byte order mark a stream may begin with (WHATWG HTML §9.2.6). */
  private text(decoded: string): string {
    if (!this.atStart || decoded === '') return decoded
    this.atStart = false
    return decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded
  }

  private consume(text: string): SseEvent[] {
    if (text === '') return [] // an empty chunk must not forget a \r waiting for its \n
    let start = 0
    if (this.pendingCr) {
      this.pendingCr = false
      if (text.charCodeAt(0) === 10) start = 1
    }
    const events: SseEvent[] = []
    let lf = text.indexOf('\n', start)
    let cr = text.indexOf('\r', start)
    while (lf !== -1 || cr !== -1) {
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
      this.line(this.completeLine(text.slice(start, end)), events)
      start = end + 1
      if (end === cr) {
        if (start === text.length)
          this.pendingCr = true // a \n may follow in the next chunk
        else if (text.charCodeAt(start) === 10) start++
      }
      if (lf !== -1 && lf < start) lf = text.indexOf('\n', start)
      if (cr !== -1 && cr < start) cr = text.indexOf('\r', start)
    }
    if (start < text.length) this.keepPartial(text.slice(start))
    return events
  }

  private keepPartial(piece: string): void {
    this.partialChars += piece.length
    if (this.partialChars > this.limits.maxLineChars) throw new SseLimitError('line')
    this.partial.push(piece)
  }

  private completeLine(piece: string): string {
    if (this.partialChars === 0) {
      if (piece.length > this.limits.maxLineChars) throw new SseLimitError('line')
      return piece
    }
    this.keepPartial(piece)
    const line = this.partial.join('')
    this.partial = []
    this.partialChars = 0
    return line
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push({ event: this.event, data: this.data.join('\n') })
      this.data = []
      this.dataChars = 0
      this.event = undefined
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') {
      // Many short data lines make one long event: bound the joined value too.
      this.dataChars += value.length + 1
      if (this.dataChars > this.limits.maxLineChars) throw new SseLimitError('line')
      this.data.push(value)
    } else if (field === 'event') this.event = value
  }
}
