import { describe, it, expect } from 'vitest'
import type { ChatMessage, ContentPart } from '../validate/chat-request-schema.js'
import { findTextBeforeImage, imagesFirst } from './content-order.js'

const text = (t: string): ContentPart => ({ type: 'text', text: t })
const image = (url: string): ContentPart => ({ type: 'image_url', image_url: { url } })
const user = (...content: ContentPart[]): ChatMessage => ({ role: 'user', content })
const system = (content: string): ChatMessage => ({ role: 'system', content })

describe('imagesFirst', () => {
  it('moves images ahead of text, keeping the order within each group (stable partition)', () => {
    const message = user(text('t1'), image('i1'), text('t2'), image('i2'), text('t3'), image('i3'))
    const { messages, reordered } = imagesFirst([message])
    expect(messages[0]?.content).toEqual([image('i1'), image('i2'), image('i3'), text('t1'), text('t2'), text('t3')])
    expect(reordered).toEqual([0])
  })

  it('tells where the client had put each part of a reordered message, and nothing of the others', () => {
    const { clientPartOrder } = imagesFirst([user(image('i0'), text('t')), user(text('t0'), image('i1'), text('t2'), image('i3'))])
    expect([...clientPartOrder]).toEqual([[1, [1, 3, 0, 2]]])
  })

  it("keeps the message's other fields and the part objects themselves", () => {
    const parts = [text('t'), image('i')] as const
    const message: ChatMessage = { role: 'user', name: 'alice', content: [...parts] }
    const [out] = imagesFirst([message]).messages
    expect(out).toEqual({ role: 'user', name: 'alice', content: [image('i'), text('t')] })
    const content = out?.content as ContentPart[]
    expect(content[0]).toBe(parts[1])
    expect(content[1]).toBe(parts[0])
  })

  it('does not mutate the input message or its content array', () => {
    const content = [text('t'), image('i')]
    const message = user(...content)
    const before = structuredClone(message)
    imagesFirst([message])
    expect(message).toEqual(before)
  })

  it('returns untouched messages as the identical objects', () => {
    const already = user(image('i'), text('t'))
    const textOnly = user(text('a'), text('b'))
    const imagesOnly = user(image('a'), image('b'))
    const plain: ChatMessage = { role: 'user', content: 'just text' }
    const needsWork = user(text('t'), image('i'))
    const input = [already, textOnly, imagesOnly, plain, needsWork]
    const { messages, reordered } = imagesFirst(input)
    expect(messages[0]).toBe(already)
    expect(messages[1]).toBe(textOnly)
    expect(messages[2]).toBe(imagesOnly)
    expect(messages[3]).toBe(plain)
    expect(messages[4]).not.toBe(needsWork)
    expect(reordered).toEqual([4])
  })

  it('returns a new array even when nothing changed', () => {
    const input = [user(image('i'), text('t'))]
    const { messages, reordered } = imagesFirst(input)
    expect(messages).not.toBe(input)
    expect(messages).toEqual(input)
    expect(reordered).toEqual([])
  })

  it('never touches non-user messages, even with text before an image-typed part', () => {
    // Validation rejects images outside user messages; the reorder must not depend on that.
    const assistant = { role: 'assistant', content: [text('t'), image('i')] } as ChatMessage
    const sys = { role: 'system', content: [text('t'), image('i')] } as ChatMessage
    const tool = { role: 'tool', tool_call_id: 'c1', content: [text('t'), image('i')] } as ChatMessage
    const { messages, reordered } = imagesFirst([sys, assistant, tool])
    expect(messages[0]).toBe(sys)
    expect(messages[1]).toBe(assistant)
    expect(messages[2]).toBe(tool)
    expect(reordered).toEqual([])
  })

  it('leaves string content untouched', () => {
    const message: ChatMessage = { role: 'user', content: 'describe <image> please' }
    const { messages, reordered } = imagesFirst([message])
    expect(messages[0]).toBe(message)
    expect(reordered).toEqual([])
  })

  it('reports the index of every reordered message, in order', () => {
    const input = [
      system('be brief'),
      user(text('a'), image('1')),
      { role: 'assistant', content: 'ok' } as ChatMessage,
      user(image('2'), text('b')),
      user(text('c'), image('3')),
    ]
    const { messages, reordered } = imagesFirst(input)
    expect(reordered).toEqual([1, 4])
    expect(messages).toHaveLength(5)
    expect(messages[1]?.content).toEqual([image('1'), text('a')])
    expect(messages[4]?.content).toEqual([image('3'), text('c')])
    expect(messages[0]).toBe(input[0])
    expect(messages[2]).toBe(input[2])
    expect(messages[3]).toBe(input[3])
  })

  it('handles an empty list', () => {
    expect(imagesFirst([])).toEqual({ messages: [], reordered: [], clientPartOrder: new Map() })
  })
})

describe('findTextBeforeImage', () => {
  it('is -1 when every user message has its images first', () => {
    expect(findTextBeforeImage([user(image('i'), image('j'), text('t')), user(text('t')), user(image('i'))])).toBe(-1)
  })

  it('is -1 for string content and an empty list', () => {
    expect(findTextBeforeImage([{ role: 'user', content: 'hello' }])).toBe(-1)
    expect(findTextBeforeImage([])).toBe(-1)
  })

  it('gives the index of the first user message with text before an image', () => {
    const input = [system('s'), user(image('i'), text('t')), user(image('i'), text('t'), image('j')), user(text('t'), image('i'))]
    expect(findTextBeforeImage(input)).toBe(2)
  })

  it('ignores non-user messages', () => {
    const assistant = { role: 'assistant', content: [text('t'), image('i')] } as ChatMessage
    expect(findTextBeforeImage([assistant, user(text('t'), image('i'))])).toBe(1)
    expect(findTextBeforeImage([assistant])).toBe(-1)
  })

  it('agrees with imagesFirst on which messages need reordering', () => {
    const input = [user(image('i'), text('t')), system('s'), user(text('t'), image('i')), user(text('u'), image('j'))]
    expect(findTextBeforeImage(input)).toBe(imagesFirst(input).reordered[0])
    expect(findTextBeforeImage(imagesFirst(input).messages)).toBe(-1)
  })
})
