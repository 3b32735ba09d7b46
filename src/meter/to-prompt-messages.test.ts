import { describe, expect, it } from 'vitest'
import type { RequestImage } from '../images/image-identity.js'
import { ChatRequestSchema, type ChatMessage } from '../validate/chat-request-schema.js'
import { toPromptMessages } from './to-prompt-messages.js'

const messagesOf = (messages: unknown[]): ChatMessage[] => ChatRequestSchema.parse({ model: 'm', messages }).messages

function resolved(messageIndex: number, partIndex: number, width: number, height: number): RequestImage {
  return {
    messageIndex,
    partIndex,
    url: `https://images.example/${messageIndex}-${partIndex}.png`,
    identity: {
      sha256: () => Promise.resolve('a'.repeat(64)),
      mime: 'image/png',
      width,
      height,
      byteLength: 0,
      bytes: Buffer.alloc(0),
      source: 'url',
    },
  }
}

const image = (url: string, detail?: 'auto' | 'low' | 'high') => ({ type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } })

describe('toPromptMessages', () => {
  it('keeps roles and string content, and turns missing or null content into null', () => {
    const messages = messagesOf([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function' }] },
      { role: 'assistant', tool_calls: [{ id: 'c2', type: 'function' }] },
      { role: 'tool', content: '42', tool_call_id: 'c1' },
    ])
    expect(toPromptMessages(messages, [])).toStrictEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: null },
      { role: 'assistant', content: null },
      { role: 'tool', content: '42' },
    ])
  })

  it('gives each image part the size read from its own bytes, matched by message and part index', () => {
    const messages = messagesOf([
      {
        role: 'user',
        content: [image('https://images.example/a.png'), { type: 'text', text: 'and' }, image('https://images.example/b.png')],
      },
      { role: 'assistant', content: 'Two.' },
      { role: 'user', content: [{ type: 'text', text: 'One more:' }, image('https://images.example/c.png')] },
    ])
    const images = [resolved(2, 1, 1920, 1080), resolved(0, 2, 640, 480), resolved(0, 0, 100, 50)]
    expect(toPromptMessages(messages, images)).toStrictEqual([
      {
        role: 'user',
        content: [
          { type: 'image', width: 100, height: 50 },
          { type: 'text', text: 'and' },
          { type: 'image', width: 640, height: 480 },
        ],
      },
      { role: 'assistant', content: 'Two.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'One more:' },
          { type: 'image', width: 1920, height: 1080 },
        ],
      },
    ])
  })

  it('does not mix up message and part indexes (1:0 is not 0:1)', () => {
    const messages = messagesOf([
      { role: 'user', content: [{ type: 'text', text: 'x' }, image('https://images.example/a.png')] },
      { role: 'user', content: [image('https://images.example/b.png')] },
    ])
    const [first, second] = toPromptMessages(messages, [resolved(0, 1, 10, 20), resolved(1, 0, 30, 40)])
    expect(first?.content).toContainEqual({ type: 'image', width: 10, height: 20 })
    expect(second?.content).toStrictEqual([{ type: 'image', width: 30, height: 40 }])
  })

  it('carries detail when the client set it, and adds none otherwise', () => {
    const messages = messagesOf([
      {
        role: 'user',
        content: [
          image('https://images.example/a.png', 'low'),
          image('https://images.example/b.png'),
          image('https://images.example/c.png', 'high'),
        ],
      },
    ])
    const images = [resolved(0, 0, 10, 10), resolved(0, 1, 20, 20), resolved(0, 2, 30, 30)]
    expect(toPromptMessages(messages, images)[0]?.content).toStrictEqual([
      { type: 'image', width: 10, height: 10, detail: 'low' },
      { type: 'image', width: 20, height: 20 },
      { type: 'image', width: 30, height: 30, detail: 'high' },
    ])
  })

  it('keeps only type and text of a text part, whatever else the client sent', () => {
    const messages = messagesOf([{ role: 'user', content: [{ type: 'text', text: 'Hello', cache_control: { type: 'ephemeral' } }] }])
    expect(toPromptMessages(messages, [])).toStrictEqual([{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }])
  })

  it('counts an image the images step did not resolve (a broken invariant) as 336x336', () => {
    const messages = messagesOf([{ role: 'user', content: [image('https://images.example/a.png')] }])
    expect(toPromptMessages(messages, [resolved(0, 1, 999, 999)])[0]?.content).toStrictEqual([{ type: 'image', width: 336, height: 336 }])
  })
})
