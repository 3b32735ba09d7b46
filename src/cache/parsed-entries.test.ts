import { describe, expect, it } from 'vitest'
import { ParsedEntries } from './parsed-entries.js'

const USAGE = { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }

/** A cache entry's text, answering `content`. */
function entryText(content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    created: 1_700_000_000,
    model: 'llava',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: USAGE,
    usageSource: 'upstream',
    storedAt: 1_700_000_000_000,
  })
}

const contentOf = (entry: unknown) => (entry as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content

describe('ParsedEntries', () => {
  it('parses a text once: the same key and text give back the same entry', () => {
    const parsed = new ParsedEntries(1_000_000)
    const text = entryText('a cat')
    const first = parsed.parse('k', text)
    expect(contentOf(first)).toBe('a cat')
    // An equal text read again from the store (a new string, as Redis gives) is the same entry too.
    expect(parsed.parse('k', `${text} `.trimEnd())).toBe(first)
  })

  it('parses afresh when the store holds a different text under the key', () => {
    const parsed = new ParsedEntries(1_000_000)
    const first = parsed.parse('k', entryText('a cat'))
    const second = parsed.parse('k', entryText('a dog'))
    expect(second).not.toBe(first)
    expect(contentOf(second)).toBe('a dog')
    expect(parsed.parse('k', entryText('a dog'))).toBe(second)
  })

  it('keeps entries apart by key', () => {
    const parsed = new ParsedEntries(1_000_000)
    const text = entryText('same answer')
    expect(parsed.parse('a', text)).not.toBe(parsed.parse('b', text))
  })

  it('gives a damaged text as a miss, every time', () => {
    const parsed = new ParsedEntries(1_000_000)
    expect(parsed.parse('k', '{"not":"an entry"}')).toBeUndefined()
    expect(parsed.parse('k', '{"not":"an entry"}')).toBeUndefined()
    expect(parsed.parse('k', '{broken')).toBeUndefined()
  })

  it('freezes what it shares between requests', () => {
    const entry = new ParsedEntries(1_000_000).parse('k', entryText('a cat'))!
    expect(Object.isFrozen(entry)).toBe(true)
    expect(Object.isFrozen(entry.choices[0]?.message)).toBe(true)
    expect(() => {
      ;(entry.usage as { prompt_tokens: number }).prompt_tokens = 0
    }).toThrow(TypeError)
  })

  it('forgets the least recently used entries once their texts pass the limit, and keeps none larger than it', () => {
    const text = entryText('x')
    const parsed = new ParsedEntries(text.length * 2)
    const a = parsed.parse('a', text)
    const b = parsed.parse('b', text)
    expect(parsed.parse('a', text)).toBe(a) // a used again: b is now the least recently used
    const c = parsed.parse('c', text) // b is forgotten
    expect(parsed.parse('a', text)).toBe(a)
    expect(parsed.parse('c', text)).toBe(c)
    expect(parsed.parse('b', text)).not.toBe(b)

    const small = new ParsedEntries(text.length - 1)
    const once = small.parse('k', text)
    expect(contentOf(once)).toBe('x')
    expect(small.parse('k', text)).not.toBe(once)
  })
})
