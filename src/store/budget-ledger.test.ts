import { describe, expect, it } from 'vitest'
import { BudgetLedger, LATE_SETTLE_WINDOW_MS } from './budget-ledger.js'

const DAY = { key: 'day', limit: 100, ttlMs: 86_400_000 }
const MINUTE = { key: 'minute', limit: 50, ttlMs: 60_000 }
const LEASE_MS = 30_000
const lease = (id: string, ...counters: Array<{ key: string }>) => ({ id, counterKeys: counters.map((c) => c.key) })

function ledger() {
  let t = 1_000_000
  const clock = { now: () => t }
  return { ledger: new BudgetLedger(clock), advance: (ms: number) => void (t += ms) }
}

describe('BudgetLedger: reserve', () => {
  it('reserves against every counter at once, all or nothing, and names the first that refuses', () => {
    const { ledger: l } = ledger()
    expect(l.reserve('a', [DAY, MINUTE], 40, LEASE_MS)).toEqual({ ok: true, totals: [40, 40] })
    expect(l.reserve('b', [DAY, MINUTE], 20, LEASE_MS)).toEqual({ ok: false, index: 1, used: 40 })
    expect(l.read(['day', 'minute'])).toEqual([
      { settled: 0, reserved: 40 },
      { settled: 0, reserved: 40 },
    ])
  })

  it('admits a reservation that reaches the limit exactly, and refuses one token more', () => {
    const { ledger: l } = ledger()
    expect(l.reserve('a', [MINUTE], 50, LEASE_MS)).toEqual({ ok: true, totals: [50] })
    expect(l.reserve('b', [MINUTE], 1, LEASE_MS)).toEqual({ ok: false, index: 0, used: 50 })
  })

  it('reserves nothing more when the same lease is reserved again (a reply that was lost)', () => {
    const { ledger: l } = ledger()
    l.reserve('a', [DAY], 40, LEASE_MS)
    expect(l.reserve('a', [DAY], 40, LEASE_MS)).toEqual({ ok: true, totals: [40] })
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 40 }])
  })

  it('counts settled usage and live leases together against the limit', () => {
    const { ledger: l } = ledger()
    l.reserve('a', [MINUTE], 30, LEASE_MS)
    l.settle(lease('a', MINUTE), 25)
    expect(l.reserve('b', [MINUTE], 25, LEASE_MS)).toEqual({ ok: true, totals: [50] })
    expect(l.reserve('c', [MINUTE], 1, LEASE_MS)).toEqual({ ok: false, index: 0, used: 50 })
  })
})

describe('BudgetLedger: settle', () => {
  it('replaces the lease by its actual cost, on every counter it holds', () => {
    const { ledger: l } = ledger()
    l.reserve('a', [DAY, MINUTE], 40, LEASE_MS)
    l.settle(lease('a', DAY, MINUTE), 12)
    expect(l.read(['day', 'minute'])).toEqual([
      { settled: 12, reserved: 0 },
      { settled: 12, reserved: 0 },
    ])
  })

  it('is idempotent: a settle sent twice counts once', () => {
    const { ledger: l } = ledger()
    l.reserve('a', [DAY], 40, LEASE_MS)
    l.settle(lease('a', DAY), 12)
    l.settle(lease('a', DAY), 12)
    expect(l.read(['day'])).toEqual([{ settled: 12, reserved: 0 }])
  })

  it('changes nothing for a lease it never saw (a reservation that never ran, given back at 0)', () => {
    const { ledger: l } = ledger()
    l.reserve('a', [DAY], 40, LEASE_MS)
    l.settle(lease('never-reserved', DAY), 0)
    l.settle(lease('never-reserved', DAY), 7)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 40 }])
  })

  it('does not create a counter when settling into a window that has ended', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [MINUTE], 10, LEASE_MS)
    advance(60_000)
    l.settle(lease('a', MINUTE), 10)
    expect(l.size).toBe(0)
    expect(l.read(['minute'])).toEqual([{ settled: 0, reserved: 0 }])
  })
})

describe('BudgetLedger: leases expire', () => {
  it('stops counting a lease that was not renewed once it expires (its holder died)', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [MINUTE], 50, LEASE_MS)
    advance(LEASE_MS - 1)
    expect(l.reserve('b', [MINUTE], 1, LEASE_MS)).toEqual({ ok: false, index: 0, used: 50 })
    advance(1)
    expect(l.reserve('b', [MINUTE], 50, LEASE_MS)).toEqual({ ok: true, totals: [50] })
  })

  it('keeps a renewed lease counting past its first expiry', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 60, LEASE_MS)
    advance(LEASE_MS - 1)
    l.renew([lease('a', DAY)], LEASE_MS)
    advance(LEASE_MS - 1)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 60 }])
    advance(1)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 0 }])
  })

  it('does not bring back a lease that expired, nor one that settled, when renewed', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 60, LEASE_MS)
    l.reserve('b', [DAY], 10, LEASE_MS)
    l.settle(lease('b', DAY), 5)
    advance(LEASE_MS)
    l.renew([lease('a', DAY), lease('b', DAY)], LEASE_MS)
    expect(l.read(['day'])).toEqual([{ settled: 5, reserved: 0 }])
  })

  it('counts the actual cost of a lease settled after it expired, once, within the late window', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 60, LEASE_MS)
    advance(LEASE_MS + 1_000) // the store was unreachable: no renewal
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 0 }])
    l.settle(lease('a', DAY), 42)
    l.settle(lease('a', DAY), 42)
    expect(l.read(['day'])).toEqual([{ settled: 42, reserved: 0 }])
  })

  it('forgets an expired lease after the late window: a settle then changes nothing', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 60, LEASE_MS)
    l.reserve('b', [DAY], 1, LEASE_MS)
    advance(LEASE_MS) // both expire; a's late record starts now
    l.read(['day'])
    advance(LATE_SETTLE_WINDOW_MS)
    l.reserve('c', [DAY], 1, 1) // a lease that expires, so the late records are swept
    advance(1)
    l.read(['day'])
    l.settle(lease('a', DAY), 42)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 0 }])
  })

  it('forgets an expired lease after the late window even when no other lease expired since', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 60, LEASE_MS)
    advance(LEASE_MS)
    l.read(['day']) // a expires: its late record starts now
    advance(LATE_SETTLE_WINDOW_MS)
    l.settle(lease('a', DAY), 42)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 0 }])
  })

  it('notices each lease’s expiry in turn, however many the counter holds', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 10, 10_000)
    l.reserve('b', [DAY], 20, 20_000)
    l.reserve('c', [DAY], 30, 30_000)
    advance(10_000)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 50 }])
    advance(10_000)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 30 }])
  })

  it('still notices the first expiry after renewing a lease that expires later', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 10, LEASE_MS)
    advance(1_000)
    l.reserve('b', [DAY], 20, LEASE_MS)
    advance(LEASE_MS - 2_000)
    l.renew([lease('b', DAY)], LEASE_MS) // b now lives to 2 x LEASE_MS; a still ends at LEASE_MS
    advance(1_000)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 20 }])
  })

  it('remembers an expired lease for 15 minutes', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 10, LEASE_MS)
    l.reserve('c', [DAY], 1, LEASE_MS + 15 * 60_000 - 1) // expires, and sweeps, a moment before a's late record ends
    advance(LEASE_MS)
    l.read(['day'])
    advance(15 * 60_000 - 1)
    l.settle(lease('a', DAY), 42)
    expect(l.read(['day'])).toEqual([{ settled: 42, reserved: 0 }])
  })

  it('forgets an expired lease exactly when the late window has passed', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [DAY], 10, LEASE_MS)
    l.reserve('c', [DAY], 1, LEASE_MS + LATE_SETTLE_WINDOW_MS) // expires exactly when a's late record ends
    advance(LEASE_MS)
    l.read(['day']) // a expires: its late record starts now
    advance(LATE_SETTLE_WINDOW_MS - 1)
    l.reserve('d', [DAY], 1, 1)
    advance(1) // d and c expire: the sweep finds a's late record at exactly its end
    l.settle(lease('a', DAY), 42)
    expect(l.read(['day'])).toEqual([{ settled: 0, reserved: 0 }])
  })
})

describe('BudgetLedger: charge', () => {
  it('adds usage with no lease past any limit, creating the counter if needed', () => {
    const { ledger: l } = ledger()
    l.charge([{ counter: MINUTE, amount: 70 }])
    expect(l.read(['minute'])).toEqual([{ settled: 70, reserved: 0 }])
    expect(l.reserve('a', [MINUTE], 1, LEASE_MS)).toEqual({ ok: false, index: 0, used: 70 })
  })
})

describe('BudgetLedger: windows', () => {
  it('opens a fresh counter once the old window has passed', () => {
    const { ledger: l, advance } = ledger()
    l.reserve('a', [MINUTE], 50, LEASE_MS)
    l.settle(lease('a', MINUTE), 50)
    advance(60_000)
    expect(l.reserve('b', [MINUTE], 50, LEASE_MS)).toEqual({ ok: true, totals: [50] })
  })

  it('keeps live counters when it sweeps expired ones (past 64 counters)', () => {
    const { ledger: l, advance } = ledger()
    const full = { key: 'full', limit: 10, ttlMs: 10_000_000 }
    l.reserve('x', [full], 10, 10_000_000)
    for (let i = 0; i < 200; i++) {
      l.reserve(`m${i}`, [{ key: `m${i}`, limit: 1, ttlMs: 1 }], 1, 1)
      advance(2)
    }
    expect(l.size).toBeLessThan(200)
    expect(l.reserve('y', [full], 1, LEASE_MS)).toEqual({ ok: false, index: 0, used: 10 })
  })

  it('sweeps only once the map holds 64 counters', () => {
    const { ledger: l, advance } = ledger()
    const short = Array.from({ length: 10 }, (_, i) => ({ key: `s${i}`, limit: 1, ttlMs: 1 }))
    l.reserve('s', short, 1, 1) // one call: the map goes from 0 to 10 counters without a sweep in between
    advance(1)
    l.reserve('x', [DAY], 1, LEASE_MS)
    expect(l.size).toBe(11) // the 10 expired ones wait for a sweep (or a read of their key)
  })

  it('sweeps again once the map has doubled since the last sweep, dropping counters that expire that very moment', () => {
    const { ledger: l, advance } = ledger()
    const long = (i: number) => l.reserve(`l${i}`, [{ key: `l${i}`, limit: 10, ttlMs: 10_000_000 }], 1, LEASE_MS)
    const short = (i: number) => l.reserve(`s${i}`, [{ key: `s${i}`, limit: 10, ttlMs: 1 }], 1, 1)
    for (let i = 0; i < 40; i++) long(i)
    for (let i = 0; i < 24; i++) short(i)
    advance(1)
    long(40) // 64 counters: the 24 short ones go, 40 stay; the next sweep is at 2 x 40
    expect(l.size).toBe(41)
    for (let i = 24; i < 63; i++) short(i)
    expect(l.size).toBe(80)
    advance(1)
    long(41)
    expect(l.size).toBe(42)
    expect(l.read(['l0', 'l41'])).toEqual([
      { settled: 0, reserved: 1 },
      { settled: 0, reserved: 1 },
    ])
  })
})
