import { describe, expect, it } from 'vitest'
import { withClientModel, withModel } from './client-model.js'

const BACKEND = 'llava-hf/llava-1.5-7b-hf'
const CLIENT = 'local/llava-1.5-7b'

/** The chunk text with the client's model, and a check that it means what re-serialising would. */
function rewrite(data: string): string {
  const parsed = JSON.parse(data) as Record<string, unknown>
  const out = withClientModel(data, parsed, parsed['model'] as string, CLIENT)
  expect(JSON.parse(out)).toEqual({ ...parsed, model: CLIENT })
  return out
}

describe('withClientModel', () => {
  it("edits only the model in the backend's text: its own spacing elsewhere survives", () => {
    const data = `{"id": "c1", "object": "chat.completion.chunk", "model":"${BACKEND}", "choices": [{"delta": {"content": "A cat"}}]}`
    expect(rewrite(data)).toBe(data.replace(`"model":"${BACKEND}"`, `"model":"${CLIENT}"`))
  })

  it('spells the new model as JSON, escapes and all', () => {
    const data = JSON.stringify({ id: 'c1', model: BACKEND, choices: [] }).replace('"id":', '"id" :')
    const parsed = JSON.parse(data) as Record<string, unknown>
    const out = withClientModel(data, parsed, BACKEND, 'team "a"/model\\1')
    expect(JSON.parse(out)).toEqual({ ...parsed, model: 'team "a"/model\\1' })
    expect(out).toContain('"id" :') // edited, not serialised again
  })

  it('leaves the content alone when it quotes the same field', () => {
    const content = `the chunk said "model":"${BACKEND}" and {"model":"${BACKEND}"}`
    const data = ` {"model":"${BACKEND}", "choices":[{"delta":{"content":${JSON.stringify(content)}}}]}`
    const out = rewrite(data)
    expect(out.startsWith(' {')).toBe(true) // edited: a quote inside a string is escaped, so it is no key
    expect((JSON.parse(out) as { choices: [{ delta: { content: string } }] }).choices[0].delta.content).toBe(content)
  })

  it.each([
    ['a space after the colon', `{"id":"c1","model": "${BACKEND}","choices":[]}`],
    ['a space before the colon', `{"id":"c1","model" :"${BACKEND}","choices":[]}`],
    ['the model spelled with an escape', `{"id":"c1","model":"llava-hf\\/llava-1.5-7b-hf","choices":[]}`],
    ['the key spelled with an escape, and a nested "model" that matches', `{"mod\\u0065l":"${BACKEND}","x":{"model":"${BACKEND}"}}`],
    ['a nested model field after the top-level one', `{"model":"${BACKEND}","x":{"model":"${BACKEND}"}}`],
    ['a nested model field before the top-level one', `{"x":{"model":"other"},"model":"${BACKEND}"}`],
    ['"model" as a value elsewhere', `{"model":"${BACKEND}","kind":"model"}`],
    ['a \\u escape anywhere', `{"model":"${BACKEND}","choices":[{"delta":{"content":"caf\\u00e9"}}]}`],
  ])('serialises again when the text has %s', (_, data) => {
    const parsed = JSON.parse(data) as Record<string, unknown>
    expect(withClientModel(data, parsed, BACKEND, CLIENT)).toBe(JSON.stringify({ ...parsed, model: CLIENT }))
  })
})

describe('withModel', () => {
  it('sends a text that names the model already as it is, edits one that names another, adds it to one that names none', () => {
    const named = ` {"model":"${CLIENT}","choices":[]}`
    expect(withModel(named, JSON.parse(named) as Record<string, unknown>, CLIENT)).toBe(named)
    const other = ` {"model":"${BACKEND}","choices":[]}`
    expect(withModel(other, JSON.parse(other) as Record<string, unknown>, CLIENT)).toBe(` {"model":"${CLIENT}","choices":[]}`)
    const nameless = ' {"choices":[]}'
    expect(withModel(nameless, JSON.parse(nameless) as Record<string, unknown>, CLIENT)).toBe(`{"choices":[],"model":"${CLIENT}"}`)
  })
})
