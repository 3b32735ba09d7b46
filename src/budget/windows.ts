import type { BudgetWindow } from '../config/schema.js'

export type WindowSpan = { /** Names the window: the same for every moment in it. */ id: string; endsAt: number }

/**
 * The calendar window (UTC) holding `now`: budgets reset on the minute, the hour, at midnight UTC
 * and on the first of the month, as an operator reading "10M tokens a month" expects.
 */
export function windowAt(window: BudgetWindow, now: number): WindowSpan {
  const d = new Date(now)
  const y = d.getUTCFullYear()
  const mo = d.getUTCMonth()
  const day = d.getUTCDate()
  const h = d.getUTCHours()
  const mi = d.getUTCMinutes()
  const pad = (n: number) => String(n).padStart(2, '0')
  switch (window) {
    case 'minute':
      return { id: `${y}${pad(mo + 1)}${pad(day)}T${pad(h)}${pad(mi)}`, endsAt: Date.UTC(y, mo, day, h, mi + 1) }
    case 'hour':
      return { id: `${y}${pad(mo + 1)}${pad(day)}T${pad(h)}`, endsAt: Date.UTC(y, mo, day, h + 1) }
    case 'day':
      return { id: `${y}${pad(mo + 1)}${pad(day)}`, endsAt: Date.UTC(y, mo, day + 1) }
    case 'month':
      return { id: `${y}${pad(mo + 1)}`, endsAt: Date.UTC(y, mo + 1, 1) }
  }
}
