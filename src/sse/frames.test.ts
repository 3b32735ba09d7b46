import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { dataFrames } from '../../test/helpers/sse.js'
import { gatewayError } from '../errors/gateway-error.js'
import { reply } from '../reply/reply.js'
import { SseParser } from './parse.js'
import { dataFrame, DONE_FRAME, errorFrame, frameBytes, setStreamHeaders } from './frames.js'

describe('dataFrame and DONE_FRAME', () => {
  it('frames data as one `data:` line and a blank line', () => {
    expect(dataFrame('{"a":1}')).toBe('data: {"a":1}\n\n')
    expect(DONE_FRAME).toBe('data: [DONE]\n\n')
  })

  it('parses back to the same data (JSON text never holds a raw newline)', () => {
    const data = JSON.stringify({ content: 'line one\nline two\r\n' })
    expect(new SseParser().push(frameBytes(dataFrame(data)))).toEqual([{ event: undefined, data }])
  })
})

describe('errorFrame', () => {
  it("is a data frame holding the OpenAI error body, all four keys, as openai-node's stream reader raises it", () => {
    const error = gatewayError('upstream_stream_interrupted', { message: 'Backend "main" ended the stream before [DONE].' })
    const frame = errorFrame(error.toBody())
    const [data] = dataFrames(frame)
    expect(JSON.parse(data ?? '')).toEqual({
      error: {
        message: 'Backend "main" ended the stream before [DONE].',
        type: 'server_error',
        param: null,
        code: 'upstream_stream_interrupted',
      },
    })
    expect(frame).not.toContain('event:') // the SDK raises `data` carrying `error`; a named event would be ignored
  })
})

describe('frameBytes', () => {
  it('encodes frames back to back as UTF-8, in order', () => {
    const bytes = frameBytes(dataFrame('🐱') + DONE_FRAME)
    expect([...bytes]).toEqual([
      ...new TextEncoder().encode('data: '),
      0xf0,
      0x9f,
      0x90,
      0xb1,
      10,
      10,
      ...new TextEncoder().encode(DONE_FRAME),
    ])
  })

  it('gives no bytes for no frames', () => {
    expect(frameBytes('').byteLength).toBe(0)
  })
})

describe('setStreamHeaders', () => {
  it('sets the event-stream type and turns off caching and proxy buffering', async () => {
    const app = new Hono().get('/', (c) => {
      setStreamHeaders(c)
      return reply(c, 'data: [DONE]\n\n', 200)
    })
    const res = await app.request('/')
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-cache')
    expect(res.headers.get('x-accel-buffering')).toBe('no')
  })
})
