import { describe, expect, it } from 'vitest'
import { once } from './once.js'

describe('once', () => {
  it('makes its value on the first call only, and gives every call that value', () => {
    let made = 0
    const value = once(() => ({ n: ++made }))
    expect(made).toBe(0)
    const first = value()
    expect(value()).toBe(first)
    expect(made).toBe(1)
  })

  it('keeps a rejected promise too: what failed is not made again', async () => {
    let made = 0
    const value = once(() => Promise.reject(new Error(`attempt ${++made}`)))
    await expect(value()).rejects.toThrow('attempt 1')
    await expect(value()).rejects.toThrow('attempt 1')
    expect(made).toBe(1)
  })
})
