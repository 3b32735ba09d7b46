import { describe, it, expect, vi } from 'vitest'
import type { ImageTokenPolicy } from './image-tokens.js'
import {
  ContextLengthError,
  countPromptTokens,
  countPromptTokensWithin,
  renderLlava15,
  PLAIN_TOKENS_PER_MESSAGE,
  type PromptMessage,
  type PromptOptions,
} from './prompt-tokens.js'
import { countTextTokens } from './text-tokens.js'

const LLAVA15: ImageTokenPolicy = { policy: 'fixed', tokensPerImage: 576 }
const llava15 = { template: 'llava-1.5', imagePolicy: LLAVA15 } as const

// How the assembly must count each piece: the first with BOS + prefix space, later ones bare.
const first = (text: string) => countTextTokens(text, { bos: true, precedingSpace: true })
const later = (text: string) => countTextTokens(text, { bos: false, precedingSpace: false })
const image = (width = 640, height = 480) => ({ type: 'image', width, height }) as const
const text = (t: string) => ({ type: 'text', text: t }) as const

describe('renderLlava15', () => {
  it('renders the llava-hf template, cut at each image', () => {
    const { segments, images } = renderLlava15([{ role: 'user', content: [image(), text('What is in this image?')] }])
    expect(segments.join('<image>')).toBe('USER: <image>\nWhat is in this image? ASSISTANT:')
    expect(segments).toEqual(['USER: ', '\nWhat is in this image? ASSISTANT:'])
    expect(images).toHaveLength(1)
  })

  it("puts all of a message's images before its text, as the template does", () => {
    const { segments } = renderLlava15([{ role: 'user', content: [text('Compare'), image(), text('them.'), image()] }])
    expect(segments.join('<image>')).toBe('USER: <image>\n<image>\nCompare them. ASSISTANT:')
  })

  it('gives system text no prefix, upper-cases every other role, and skips null content', () => {
    const { segments } = renderLlava15([
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: 'Use English.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: null },
      { role: 'tool', content: '42' },
    ])
    expect(segments).toEqual(['Be brief. DEVELOPER: Use English. USER: Hi ASSISTANT: TOOL: 42 ASSISTANT:'])
  })

  it('keeps a literal "<image>" typed in text as text', () => {
    const { segments, images } = renderLlava15([{ role: 'user', content: 'what is <image>?' }])
    expect(images).toHaveLength(0)
    expect(segments).toEqual(['USER: what is <image>? ASSISTANT:'])
  })
})

describe('countPromptTokens: llava-1.5', () => {
  // protocol-notes §3.3: "USER: " → [1, 3148, 1001, 29901, 29871] = 5; "\nWhat is in this image?
  // ASSISTANT:" → 12 without a prefix space; + 576 = 593.
  it('counts the §3.3 worked example as 593', () => {
    const messages: PromptMessage[] = [{ role: 'user', content: [image(), text('What is in this image?')] }]
    expect(first('USER: ')).toBe(5)
    expect(later('\nWhat is in this image? ASSISTANT:')).toBe(12)
    expect(countPromptTokens(messages, llava15)).toEqual({ textTokens: 17, imageTokens: 576, images: 1, total: 593 })
  })

  // Why later segments get no prefix space: with one, the example would be 5 + 13 + 576 = 594.
  it('would be off by one with a prefix space after the image', () => {
    expect(countTextTokens('\nWhat is in this image? ASSISTANT:', { bos: false, precedingSpace: true })).toBe(13)
  })

  // "USER: " (5) | "\n" (1) | "\nCompare them. ASSISTANT:" (10) → 16 text + 2 × 576.
  it('counts a two-image message', () => {
    const messages: PromptMessage[] = [{ role: 'user', content: [image(), image(1920, 1080), text('Compare them.')] }]
    const textTokens = first('USER: ') + later('\n') + later('\nCompare them. ASSISTANT:')
    expect(textTokens).toBe(16)
    expect(countPromptTokens(messages, llava15)).toEqual({ textTokens, imageTokens: 1152, images: 2, total: 1168 })
  })

  // "You are helpful. USER: " (9 with BOS) | "\nWhat is this? ASSISTANT: A cat. USER: Is it cute?
  // ASSISTANT:" (26) → 35 text + 576.
  it('counts a multi-turn conversation with a system message', () => {
    const messages: PromptMessage[] = [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: [text('What is this?'), image()] },
      { role: 'assistant', content: 'A cat.' },
      { role: 'user', content: [text('Is it cute?')] },
    ]
    const textTokens = first('You are helpful. USER: ') + later('\nWhat is this? ASSISTANT: A cat. USER: Is it cute? ASSISTANT:')
    expect(textTokens).toBe(35)
    expect(countPromptTokens(messages, llava15)).toEqual({ textTokens, imageTokens: 576, images: 1, total: 611 })
  })

  it('counts a text-only prompt as one BOS-led segment', () => {
    const result = countPromptTokens([{ role: 'user', content: 'Hello world!' }], llava15)
    expect(result).toEqual({ textTokens: first('USER: Hello world! ASSISTANT:'), imageTokens: 0, images: 0, total: result.textTokens })
  })

  it('counts only the generation prompt for no messages', () => {
    expect(countPromptTokens([], llava15)).toEqual({ textTokens: 6, imageTokens: 0, images: 0, total: 6 })
  })

  // A system message that opens with an image leaves an empty first segment: just <s>.
  it('counts BOS even when the prompt opens with an image', () => {
    const messages: PromptMessage[] = [{ role: 'system', content: [image(), text('Context.')] }]
    const textTokens = 1 + later('\nContext. ASSISTANT:')
    expect(countPromptTokens(messages, llava15)).toEqual({ textTokens, imageTokens: 576, images: 1, total: textTokens + 576 })
  })

  it('asks the image policy per image, with its size and detail', () => {
    const messages: PromptMessage[] = [
      { role: 'user', content: [image(1000, 300), { type: 'image', width: 4096, height: 4096, detail: 'low' }, text('Hi')] },
    ]
    const textTokens = first('USER: ') + later('\n') + later('\nHi ASSISTANT:')
    // llava-next ignores detail: 1000×300 → 2182 and 4096² → 2928 (protocol-notes §3.2).
    expect(countPromptTokens(messages, { template: 'llava-1.5', imagePolicy: { policy: 'llava-next' } })).toEqual({
      textTokens,
      imageTokens: 2182 + 2928,
      images: 2,
      total: textTokens + 5110,
    })
    // openai-tiles honours it: 1000×300 high → 2×1 tiles = 425; the low one is 85.
    expect(countPromptTokens(messages, { template: 'llava-1.5', imagePolicy: { policy: 'openai-tiles' } }).imageTokens).toBe(510)
  })

  it('rejects an image without a positive integer size', () => {
    expect(() => countPromptTokens([{ role: 'user', content: [image(0, 10)] }], llava15)).toThrow(RangeError)
  })
})

describe('countPromptTokens: plain', () => {
  const plain = { template: 'plain', imagePolicy: { policy: 'openai-tiles' } } as const

  it('sums each text part (prefix space, no BOS) plus 4 per message, plus image tokens', () => {
    const messages: PromptMessage[] = [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: [text('Describe this.'), { type: 'image', width: 1024, height: 1024, detail: 'low' }] },
      { role: 'assistant', content: null },
    ]
    const bare = (t: string) => countTextTokens(t, { bos: false, precedingSpace: true })
    const textTokens = 3 * PLAIN_TOKENS_PER_MESSAGE + bare('You are helpful.') + bare('Describe this.')
    expect(PLAIN_TOKENS_PER_MESSAGE).toBe(4)
    expect(textTokens).toBe(12 + 4 + 4)
    expect(countPromptTokens(messages, plain)).toEqual({ textTokens, imageTokens: 85, images: 1, total: textTokens + 85 })
  })

  // Each part is counted with the prefix space: a text that starts with a newline is 13 tokens that
  // way ("▁" cannot merge with "\n"), 12 without it, so dropping the space would undercount.
  it('counts each text part with the prefix space', () => {
    const messages: PromptMessage[] = [{ role: 'user', content: [text('\nWhat is in this image? ASSISTANT:')] }]
    expect(countPromptTokens(messages, plain)).toEqual({ textTokens: 4 + 13, imageTokens: 0, images: 0, total: 17 })
  })

  it('is 0 for no messages and 4 for one empty message', () => {
    expect(countPromptTokens([], plain)).toEqual({ textTokens: 0, imageTokens: 0, images: 0, total: 0 })
    expect(countPromptTokens([{ role: 'user', content: '' }], plain).total).toBe(4)
  })
})

describe('countPromptTokensWithin: refused from a lower bound before any tokenizing', () => {
  // 1,600 x: far fewer tokens than characters, far more than a sixteenth of them.
  const messages: PromptMessage[] = [{ role: 'user', content: [image(), text('x'.repeat(1_600))] }]
  const counting = () => ({ count: vi.fn(async (t: string, run?: { bos?: boolean; precedingSpace?: boolean }) => countTextTokens(t, run)) })
  const refusal = async (options: PromptOptions, contextWindow: number, completionTokens = 0) => {
    const counter = counting()
    let err: unknown
    try {
      await countPromptTokensWithin(messages, options, counter, { contextWindow, completionTokens })
    } catch (e) {
      err = e
    }
    return { err: err as ContextLengthError | undefined, tokenized: counter.count.mock.calls.length > 0 }
  }

  it('llava-1.5: the image, BOS, and a sixteenth of each run of text (the prefix space counted), against the window', async () => {
    // "USER: " with BOS and prefix: 1 + ceil(7 / 16); "\nxxx… ASSISTANT:": ceil(1,612 / 16); the image: 576.
    const bound = 576 + 1 + 1 + 101
    const { err, tokenized } = await refusal(llava15, bound - 1)
    expect(err).toBeInstanceOf(ContextLengthError)
    expect(err).toMatchObject({ name: 'ContextLengthError', promptTokens: bound, atLeast: true, limit: { contextWindow: bound - 1 } })
    expect(err?.message).toBe(`the prompt needs at least ${bound} tokens; the context window is ${bound - 1}`)
    expect(tokenized).toBe(false)
    const counted = await refusal(llava15, bound) // the bound fits: the text is counted, and its exact total refused
    expect(counted.tokenized).toBe(true)
    expect(counted.err).toMatchObject({ atLeast: false, promptTokens: countPromptTokens(messages, llava15).total })
    expect(counted.err?.message).toBe(
      `the prompt needs ${countPromptTokens(messages, llava15).total} tokens; the context window is ${bound}`,
    )
  })

  it('plain: the image, the tokens every message adds, and a sixteenth of each part with its prefix space', async () => {
    const plain = { template: 'plain', imagePolicy: LLAVA15 } as const
    const bound = 576 + PLAIN_TOKENS_PER_MESSAGE + 101 // ceil(1,601 / 16)
    expect((await refusal(plain, bound - 1)).err).toMatchObject({ promptTokens: bound, atLeast: true })
    expect((await refusal(plain, bound)).tokenized).toBe(true)
  })

  it('makes room for the answer: refused when bound + completion exceeds the window, not when it meets it', async () => {
    const bound = 576 + 1 + 1 + 101
    expect((await refusal(llava15, bound + 20, 21)).err).toMatchObject({ atLeast: true, limit: { completionTokens: 21 } })
    expect((await refusal(llava15, bound + 20, 20)).tokenized).toBe(true)
  })
})

describe('countPromptTokensWithin: at once when it can be, one text at a time when it cannot', () => {
  // Two images: three runs of text ("USER: ", "\n", "\nWhat is this? ASSISTANT:").
  const messages: PromptMessage[] = [{ role: 'user', content: [image(), image(), text('What is this?')] }]
  const window = { contextWindow: 4_096, completionTokens: 0 }
  const exact = countPromptTokens(messages, llava15)
  /** A counter that answers every text at once. */
  const atOnce = { count: (t: string, run?: { bos?: boolean; precedingSpace?: boolean }) => countTextTokens(t, run) }

  it('answers with the count itself, not a promise, when the counter answered every text at once', () => {
    expect(countPromptTokensWithin(messages, llava15, atOnce, window)).toEqual(exact)
  })

  it('throws the refusal, rather than returning a rejected promise, when it counted at once', () => {
    expect(() => countPromptTokensWithin(messages, llava15, atOnce, { ...window, contextWindow: exact.total - 1 })).toThrow(
      expect.objectContaining({ name: 'ContextLengthError', atLeast: false, promptTokens: exact.total }),
    )
    expect(countPromptTokensWithin(messages, llava15, atOnce, { ...window, contextWindow: exact.total })).toEqual(exact)
  })

  it('once a count is a promise, starts the next text only when it has settled, and refuses by rejecting', async () => {
    const pending: Array<(n: number) => void> = []
    const started: string[] = []
    const counter = {
      // The second text's count waits (as a long piece on the worker would); the others answer at once.
      count: (t: string, run?: { bos?: boolean; precedingSpace?: boolean }) => {
        started.push(t)
        if (started.length !== 2) return countTextTokens(t, run)
        return new Promise<number>((resolve) => pending.push(() => resolve(countTextTokens(t, run))))
      },
    }
    const counting = countPromptTokensWithin(messages, llava15, counter, window)
    expect(counting).toBeInstanceOf(Promise)
    await Promise.resolve()
    expect(started).toEqual(['USER: ', '\n']) // the third waits for the second
    pending[0]?.(0)
    await expect(counting).resolves.toEqual(exact)
    expect(started).toHaveLength(3)

    started.length = 0
    pending.length = 0
    const refused = countPromptTokensWithin(messages, llava15, counter, { ...window, contextWindow: exact.total - 1 })
    expect(refused).toBeInstanceOf(Promise)
    pending[0]?.(0)
    await expect(refused).rejects.toMatchObject({ name: 'ContextLengthError', atLeast: false, promptTokens: exact.total })
  })
})
