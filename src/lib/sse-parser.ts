export type SseEvent = { event: string | undefined; data: string }

/**
 * Incremental text/event-stream parser (WHATWG HTML §9.2.6): feed it bytes as they arrive, in any
 * split, and it returns the complete events so far. Lines end in \n, \r\n or \r; `data:` lines join
 * with \n; comments and unknown fields are ignored; an event ends at a blank line.
 */
export class SseParser {
  private readonly decoder = new TextDecoder()
  private buffer = ''
  private data: string[] = []
  private event: string | undefined
  private pendingCr = false

  push(chunk: Uint8Array): SseEvent[] {
    return this.consume(this.decoder.decode(chunk, { stream: true }))
  }

  /** Call once at end of input: an event not closed by a blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const events = this.consume(this.decoder.decode())
    this.buffer = ''
    return events
  }

  private consume(text: string): SseEvent[] {
    if (text === '') return [] // an empty chunk must not forget a \r waiting for its \n
    let input = this.buffer + text
    if (this.pendingCr && input.startsWith('\n')) input = input.slice(1)
    this.pendingCr = false
    const events: SseEvent[] = []
    let start = 0
    for (let i = 0; i < input.length; i++) {
      const ch = input.charCodeAt(i)
      if (ch !== 10 && ch !== 13) continue
      this.line(input.slice(start, i), events)
      if (ch === 13) {
        if (i + 1 === input.length)
          this.pendingCr = true // a \n may follow in the next chunk
        else if (input.charCodeAt(i + 1) === 10) i++
      }
      start = i + 1
    }
    this.buffer = input.slice(start)
    return events
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push({ event: this.event, data: this.data.join('\n') })
      this.data = []
      this.event = undefined
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.event = value
  }
}
