import { describe, expect, it } from 'vitest'
import { stepConfig } from '../../test/helpers/step-app.js'
import type { ModelConfig } from '../config/schema.js'
import { GatewayError } from '../errors/gateway-error.js'
import { parseJson } from '../lib/json-parse.js'
import { scanJson } from '../lib/json-scan.js'
import { countPromptTokens, type PromptMessage } from '../meter/prompt-tokens.js'
import { seededRandom } from '../../test/helpers/seeded-random.js'
import { refuseTextBeyondWindow } from './text-beyond-window.js'

/** Strings longer than this are long texts here: the same path a 64 KiB text takes in the gateway, with small bodies. */
const LONG = 40

const modelWith = (contextWindow: number, chatTemplate: 'llava-1.5' | 'plain' = 'llava-1.5'): ModelConfig => {
  const [model] = stepConfig({ models: [{ id: 'm', backend: 'main', contextWindow, chatTemplate }] }).models
  if (!model) throw new Error('no model')
  return model
}

/** The body through the parse the gateway makes, checked before its long texts are decoded: the refusal, if any. */
async function refusalOf(body: unknown, model: ModelConfig | undefined, raw = JSON.stringify(body)): Promise<GatewayError | undefined> {
  const bytes = Buffer.from(raw)
  const { longStrings } = await scanJson(bytes, 64, LONG)
  try {
    await parseJson(bytes, longStrings, { beforeDecode: refuseTextBeyondWindow((id) => (id === model?.id ? model : undefined)) })
    return undefined
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
}

const chat = (content: unknown, extra: Record<string, unknown> = {}) => ({ model: 'm', messages: [{ role: 'user', content }], ...extra })

describe('refuseTextBeyondWindow', () => {
  it("refuses a long text that cannot fit with the meter's own 400, from its size alone", async () => {
    // 20,000 bytes are at least 3,334 characters (6 bytes each at most), so at least 209 tokens (16 characters each at most).
    const refusal = await refusalOf(chat('a'.repeat(20_000)), modelWith(200))
    expect(refusal?.status).toBe(400)
    expect(refusal?.code).toBe('context_length_exceeded')
    expect(refusal?.toBody().error).toMatchObject({ param: 'messages', type: 'invalid_request_error' })
    expect(refusal?.message).toBe(
      "This model's maximum context length is 200 tokens (model `m`, models[].contextWindow). However, your messages resulted in at least 209 tokens. Please reduce the length of the messages.",
    )
    expect(await refusalOf(chat('a'.repeat(20_000)), modelWith(209))).toBeUndefined()
  })

  it('refuses before the text is decoded: a text that would not decode is still refused for its length', async () => {
    const raw = `{"model":"m","messages":[{"role":"user","content":"${'a'.repeat(20_000)}\\q"}]}`
    expect((await refusalOf(undefined, modelWith(200), raw))?.code).toBe('context_length_exceeded')
    await expect(refusalOf(undefined, modelWith(4_096), raw)).rejects.toThrow(SyntaxError) // it fits: decoded, and refused for its escape
  })

  it("never refuses what the meter would accept: its bound is at most the meter's exact count, whatever the text", async () => {
    const { random, pick } = seededRandom(20261205)
    const atoms = ['a', ' ', ' '.repeat(16), 'word ', '\n', '"', '\\', '\u0001', 'é', '中', '🦙', '\u2028', '0123', '\t\t']
    for (const template of ['llava-1.5', 'plain'] as const) {
      for (let i = 0; i < 300; i++) {
        const texts = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
          let text = ''
          const length = Math.floor(random() * 120)
          while (text.length < length) text += pick(atoms)
          return text
        })
        const messages: PromptMessage[] = [
          { role: 'system', content: texts[0] ?? '' },
          { role: 'user', content: texts.slice(1).map((text) => ({ type: 'text' as const, text })) },
        ]
        const exact = countPromptTokens(messages, { template, imagePolicy: { policy: 'fixed', tokensPerImage: 576 } }).total
        expect(await refusalOf({ model: 'm', messages }, modelWith(exact, template))).toBeUndefined()
      }
    }
  })

  it('counts the text of every message, string content and text parts alike, and nothing else', async () => {
    const long = 'b'.repeat(960) // at least 160 characters: 10 tokens
    const body = {
      model: 'm',
      user: long,
      messages: [
        { role: 'system', content: long },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `https://images.example/${long}` } },
            { type: 'text', text: long },
          ],
        },
        { role: 'assistant', content: null },
        { role: 'user', content: 'short' }, // 5 characters, counted as they are
      ],
    }
    // 160 + 160 + 5 characters: at least 21 tokens.
    expect((await refusalOf(body, modelWith(20)))?.message).toContain('at least 21 tokens')
    expect(await refusalOf(body, modelWith(21))).toBeUndefined()
  })

  it('counts a data URL sent as text by its size, as any other text: the meter counts it whole', async () => {
    const dataUrl = `data:image/png;base64,${'QUJD'.repeat(240)}` // 982 bytes: at least 164 characters, 11 tokens
    expect((await refusalOf(chat(dataUrl), modelWith(10)))?.message).toContain('at least 11 tokens')
    expect((await refusalOf(chat([{ type: 'text', text: dataUrl }]), modelWith(10)))?.message).toContain('at least 11 tokens')
    expect(await refusalOf(chat(dataUrl), modelWith(11))).toBeUndefined()
  })

  it('makes room for the answer as the meter does: max_completion_tokens, else max_tokens; a value the schema refuses makes none', async () => {
    const text = 'a'.repeat(20_000) // at least 209 tokens
    const model = modelWith(300)
    expect((await refusalOf(chat(text, { max_tokens: 100 }), model))?.message).toContain('you requested at least 209 + 100 tokens')
    expect(await refusalOf(chat(text, { max_tokens: 100, max_completion_tokens: 91 }), model)).toBeUndefined()
    expect((await refusalOf(chat(text, { max_tokens: 100, max_completion_tokens: 92 }), model))?.message).toContain('209 + 92')
    expect((await refusalOf(chat(text, { max_tokens: 100, max_completion_tokens: null }), model))?.message).toContain('209 + 100')
    for (const invalid of ['100', -100, 1.5, true]) expect(await refusalOf(chat(text, { max_tokens: invalid }), model)).toBeUndefined()
  })

  it('leaves what it cannot judge to the checks that follow: a model it may not use, a body not shaped like a chat', async () => {
    const text = 'a'.repeat(20_000)
    const model = modelWith(200)
    expect(await refusalOf({ ...chat(text), model: 'other' }, model)).toBeUndefined()
    expect(await refusalOf({ ...chat(text), model: 7 }, model)).toBeUndefined()
    expect(await refusalOf({ model: 'm', messages: { 0: { role: 'user', content: text } } }, model)).toBeUndefined()
    expect(await refusalOf({ model: 'm', messages: [text, [text], { content: { text } }] }, model)).toBeUndefined()
    expect(await refusalOf(chat([{ type: 'input_text', text }]), model)).toBeUndefined()
    expect(await refusalOf([chat(text)], model)).toBeUndefined()
  })
})
