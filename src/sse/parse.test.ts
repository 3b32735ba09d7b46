import { describe, it, expect } from 'vitest'
import { encode, everySplit } from '../../test/helpers/sse.js'
import { SseParser, type SseEvent } from './parse.js'

/** Feed the chunks in order, then end(): every event the parser gave back, in order. */
function parse(...chunks: readonly Uint8Array[]): SseEvent[] {
  const parser = new SseParser()
  const events: SseEvent[] = []
  for (const chunk of chunks) events.push(...parser.push(chunk))
  events.push(...parser.end())
  return events
}

const parseText = (...chunks: readonly string[]): SseEvent[] => parse(...chunks.map(encode))

// Three events using every line ending, a comment, a named event, a multi-line data field and
// multi-byte characters (3-byte '“', 4-byte emoji), so every kind of boundary gets split.
const TRANSCRIPT =
  ': keepalive\r\n' +
  'event: delta\r\n' +
  'data: {"text":"“quoted” 🎉"}\r\n' +
  '\r\n' +
  'data: line one\r' +
  'data:line two\r' +
  '\r' +
  'id: 7\n' +
  'data: [DONE]\n' +
  '\n'

const TRANSCRIPT_EVENTS: SseEvent[] = [
  { event: 'delta', data: '{"text":"“quoted” 🎉"}' },
  { event: undefined, data: 'line one\nline two' },
  { event: undefined, data: '[DONE]' },
]

describe('SseParser: chunking', () => {
  it('keeps a \\r waiting for its \\n across an empty chunk', () => {
    expect(parse(encode('data: a\r'), new Uint8Array(0), encode('\ndata: b\r\n\r\n'))).toEqual([{ event: undefined, data: 'a\nb' }])
  })

  it('parses the transcript in one chunk', () => {
    expect(parse(encode(TRANSCRIPT))).toEqual(TRANSCRIPT_EVENTS)
  })

  it('gives the same events whatever byte offset the transcript is split at', () => {
    for (const [head, tail] of everySplit(encode(TRANSCRIPT))) {
      expect(parse(head, tail), `split at byte ${head.length}`).toEqual(TRANSCRIPT_EVENTS)
    }
  })

  it('gives the same events when split into three non-empty chunks at any two offsets', () => {
    const bytes = encode(TRANSCRIPT)
    for (let a = 1; a < bytes.length - 1; a++) {
      for (let b = a + 1; b < bytes.length; b++) {
        const events = parse(bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b))
        expect(events, `split at bytes ${a} and ${b}`).toEqual(TRANSCRIPT_EVENTS)
      }
    }
  })

  it('gives the same events when fed one byte at a time', () => {
    const bytes = encode(TRANSCRIPT)
    const chunks = Array.from(bytes, (byte) => Uint8Array.of(byte))
    expect(parse(...chunks)).toEqual(TRANSCRIPT_EVENTS)
  })

  it('returns each event from the push that completes it, not later', () => {
    const parser = new SseParser()
    expect(parser.push(encode('data: a\n'))).toEqual([])
    expect(parser.push(encode('\ndata: b'))).toEqual([{ event: undefined, data: 'a' }])
    expect(parser.push(encode('\n\n'))).toEqual([{ event: undefined, data: 'b' }])
    expect(parser.end()).toEqual([])
  })
})

describe('SseParser: line endings', () => {
  it.each([
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
    ['\\r', '\r'],
  ])('ends lines and events with %s', (_name, eol) => {
    expect(parseText(`event: e${eol}data: 1${eol}${eol}data: 2${eol}${eol}`)).toEqual([
      { event: 'e', data: '1' },
      { event: undefined, data: '2' },
    ])
  })

  it('treats \\r at the end of one chunk and \\n at the start of the next as one line ending', () => {
    // Were they two endings, the \n would be a blank line and dispatch "a" on its own.
    expect(parseText('data: a\r', '\ndata: b\r', '\n\r', '\n')).toEqual([{ event: undefined, data: 'a\nb' }])
  })

  it('treats \\r\\r as a line ending followed by a blank line', () => {
    expect(parseText('data: a\r', '\rdata: b\r\r')).toEqual([
      { event: undefined, data: 'a' },
      { event: undefined, data: 'b' },
    ])
  })

  it('dispatches an event whose blank line is a \\r at the very end of the input', () => {
    expect(parseText('data: a\r\r')).toEqual([{ event: undefined, data: 'a' }])
  })
})

describe('SseParser: fields', () => {
  it('joins multi-line data with \\n', () => {
    expect(parseText('data: first\ndata: second\ndata: third\n\n')).toEqual([{ event: undefined, data: 'first\nsecond\nthird' }])
  })

  it('reads the event field and resets it after each event', () => {
    expect(parseText('event: error\ndata: x\n\ndata: y\n\n')).toEqual([
      { event: 'error', data: 'x' },
      { event: undefined, data: 'y' },
    ])
  })

  it('ignores comment lines, including one between data lines', () => {
    expect(parseText(': keepalive\n\ndata: a\n: note\ndata: b\n\n:\n\n')).toEqual([{ event: undefined, data: 'a\nb' }])
  })

  it('ignores unknown fields and id/retry', () => {
    expect(parseText('id: 1\nretry: 100\nfoo: bar\ndata: x\n\n')).toEqual([{ event: undefined, data: 'x' }])
  })

  it('dispatches nothing for a blank line without data', () => {
    expect(parseText('\n\nevent: ping\n\n')).toEqual([])
  })

  it('strips exactly one space after the colon, and none when there is none', () => {
    expect(parseText('data: spaced\n\ndata:tight\n\ndata:  two\n\n')).toEqual([
      { event: undefined, data: 'spaced' },
      { event: undefined, data: 'tight' },
      { event: undefined, data: ' two' },
    ])
  })

  it('keeps colons after the first one in the value', () => {
    expect(parseText('data: {"a":"b:c"}\n\n')).toEqual([{ event: undefined, data: '{"a":"b:c"}' }])
  })
})

describe('SseParser: UTF-8', () => {
  it.each([
    ['a 3-byte quote', '“'],
    ['a 4-byte emoji', '🎉'],
  ])('decodes %s split at each of its inner byte boundaries', (_name, char) => {
    const bytes = encode(`data: ${char}\n\n`)
    const start = encode('data: ').length
    const width = encode(char).length
    for (let at = start + 1; at < start + width; at++) {
      expect(parse(bytes.subarray(0, at), bytes.subarray(at)), `split at byte ${at}`).toEqual([{ event: undefined, data: char }])
    }
  })

  it('drops the byte order mark a stream begins with, whole or split over the first chunks', () => {
    const bytes = encode('\uFEFFdata: a\n\n')
    expect(parse(bytes)).toEqual([{ event: undefined, data: 'a' }])
    expect(parse(bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2))).toEqual([{ event: undefined, data: 'a' }])
    expect(parse(new Uint8Array(0), bytes)).toEqual([{ event: undefined, data: 'a' }])
  })

  it('keeps a U+FEFF that does not begin the stream', () => {
    expect(parseText('data: a\n\n', '\uFEFFdata: b\n\n')).toEqual([{ event: undefined, data: 'a' }])
    expect(parseText('data: \uFEFFb\n\n')).toEqual([{ event: undefined, data: '\uFEFFb' }])
  })

  it('replaces bytes that are not UTF-8 with U+FFFD', () => {
    expect(parse(Uint8Array.of(...encode('data: a'), 0xff, ...encode('b\n\n')))).toEqual([{ event: undefined, data: 'a\uFFFDb' }])
  })
})

describe('SseParser: end()', () => {
  it('drops a final event that no blank line closed', () => {
    const parser = new SseParser()
    expect(parser.push(encode('data: done\n\ndata: partial\n'))).toEqual([{ event: undefined, data: 'done' }])
    expect(parser.end()).toEqual([])
  })

  it('drops a final unterminated line', () => {
    expect(parseText('data: done\n\n', 'data: partial')).toEqual([{ event: undefined, data: 'done' }])
  })
})
