import { describe, expect, it } from 'vitest'
import type { Config, ModelConfig } from '../config/schema.js'
import { routesByAffinity } from './affinity-key.js'

const backends = {
  sticky: { routing: 'affinity' },
  spread: { routing: 'least_outstanding' },
} as unknown as Config['backends']
const model = (backend: string, fallbacks: string[] = []) => ({ backend, fallbacks }) as unknown as ModelConfig

describe('routesByAffinity', () => {
  it('is true when the backend or any fallback routes by affinity, and only then', () => {
    expect(routesByAffinity({ backends }, model('sticky'))).toBe(true)
    expect(routesByAffinity({ backends }, model('spread', ['spread', 'sticky']))).toBe(true)
    expect(routesByAffinity({ backends }, model('spread', ['spread']))).toBe(false)
    expect(routesByAffinity({ backends }, model('spread'))).toBe(false)
    expect(routesByAffinity({ backends }, model('gone', ['also-gone']))).toBe(false)
  })
})
