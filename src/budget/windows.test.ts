import { describe, expect, it } from 'vitest'
import { windowAt } from './windows.js'

const at = (iso: string) => Date.parse(iso)

describe('windowAt', () => {
  it.each([
    ['minute', '2026-11-26T21:59:59.999Z', '20261126T2159', '2026-11-26T22:00:00.000Z'],
    ['hour', '2026-11-26T21:00:00.000Z', '20261126T21', '2026-11-26T22:00:00.000Z'],
    ['day', '2026-11-26T23:59:59.000Z', '20261126', '2026-11-27T00:00:00.000Z'],
    ['month', '2026-12-31T23:59:59.000Z', '202612', '2027-01-01T00:00:00.000Z'],
    ['day', '2028-02-28T12:00:00.000Z', '20280228', '2028-02-29T00:00:00.000Z'],
    ['month', '2028-02-29T12:00:00.000Z', '202802', '2028-03-01T00:00:00.000Z'],
  ] as const)('%s window of %s is %s, ending %s', (window, now, id, end) => {
    expect(windowAt(window, at(now))).toEqual({ id, endsAt: at(end) })
  })

  it('gives every moment of a window the same id, and the next window another', () => {
    const start = at('2026-11-26T21:00:00.000Z')
    expect(windowAt('hour', start).id).toBe(windowAt('hour', start + 3_599_999).id)
    expect(windowAt('hour', start + 3_600_000).id).not.toBe(windowAt('hour', start).id)
  })
})
