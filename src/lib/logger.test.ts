import { describe, expect, it } from 'vitest'
import { isoTime } from './logger.js'
import { capturedLog } from '../../test/helpers/captured-log.js'

describe('isoTime', () => {
  it('is the ISO 8601 time of each line, formatted again only when the millisecond changes', () => {
    let ms = Date.UTC(2026, 11, 2, 3, 4, 5, 6)
    const time = isoTime(() => ms)
    expect(time()).toBe(',"time":"2026-12-02T03:04:05.006Z"')
    expect(time()).toBe(',"time":"2026-12-02T03:04:05.006Z"')
    ms += 1
    expect(time()).toBe(',"time":"2026-12-02T03:04:05.007Z"')
  })
})

describe('createLogger', () => {
  it('blanks secret keys at the top level and one level down', () => {
    const { log, lines } = capturedLog()
    log.info({ authorization: 'Bearer a', apiKey: 'b', secret: 'c', backend: { apiKey: 'd', headers: { authorization: 'e' } } }, 'x')
    expect(JSON.stringify(lines)).not.toMatch(/Bearer a|"b"|"c"|"d"|"e"/)
    expect(lines[0]).toMatchObject({
      authorization: '[redacted]',
      apiKey: '[redacted]',
      secret: '[redacted]',
      backend: { apiKey: '[redacted]' },
    })
    expect(typeof lines[0]?.['time']).toBe('string')
  })
})
