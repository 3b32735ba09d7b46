import { afterAll, describe, expect, it } from 'vitest'
import { png } from '../../test/fixtures/images.js'
import { counterSum } from '../../test/helpers/metric-values.js'
import { parsedRequest, settle, stepApp, stepConfig } from '../../test/helpers/step-app.js'
import type { AuthVariables, Principal } from '../auth/index.js'
import type { Completion } from '../completion/completion.js'
import { FinishLine, type FinishVariables } from '../completion/finish-line.js'
import type { ModelConfig } from '../config/schema.js'
import type { ImagesVariables, RequestImage } from '../images/index.js'
import { sha256Hex } from '../lib/sha256.js'
import { createLabeler } from '../metrics/labels.js'
import { createMetrics } from '../metrics/metrics.js'
import type { ValidateVariables } from '../validate/index.js'
import { countTokens, type MeterVariables } from './index.js'
import { countPromptTokens } from './prompt-tokens.js'
import { TokenCounter } from './token-counter.js'

const config = stepConfig({
  models: [
    { id: 'llava-1.5-7b', backend: 'main', metricsLabel: 'llava-7b', imageTokens: { policy: 'fixed', tokensPerImage: 576 } },
    { id: 'plain-model', backend: 'main', chatTemplate: 'plain', imageTokens: { policy: 'openai-tiles' } },
  ],
})
const LLAVA = config.models[0] as ModelConfig
const PLAIN = config.models[1] as ModelConfig
const PRINCIPAL: Principal = { keyAlias: 'a-key', team: 'team-a', role: 'user' as const, models: undefined, budgets: [] }
const WHO = { key_alias: 'a-key', team: 'team-a', model: 'llava-7b' }

const IMAGE_URL = 'https://images.example/cat.png'
const PNG = png(640, 480)

/** protocol-notes §3.3's worked example: one 640x480 image, then "What is in this image?" → 17 text + 576 = 593. */
const WORKED_EXAMPLE = {
  model: 'llava-1.5-7b',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: IMAGE_URL } },
        { type: 'text', text: 'What is in this image?' },
      ],
    },
  ],
}
const IMAGE: RequestImage = {
  messageIndex: 0,
  partIndex: 0,
  url: IMAGE_URL,
  identity: {
    sha256: () => Promise.resolve(sha256Hex(PNG)),
    mime: 'image/png',
    width: 640,
    height: 480,
    byteLength: PNG.length,
    bytes: PNG,
    source: 'url',
  },
}

const tokens = new TokenCounter()
afterAll(() => tokens.close())

type Vars = FinishVariables & AuthVariables & ValidateVariables & ImagesVariables & MeterVariables

function meterApp(options: { model?: ModelConfig; body?: Record<string, unknown>; images?: RequestImage[] } = {}) {
  const metrics = createMetrics({ defaultMetrics: false })
  const finish = new FinishLine(0)
  const { app, reached } = stepApp<Vars>(countTokens({ metrics, labels: createLabeler(config), tokens }), () => ({
    finish,
    principal: PRINCIPAL,
    model: options.model ?? LLAVA,
    chatRequest: parsedRequest(options.body ?? WORKED_EXAMPLE),
    requestImages: options.images ?? [IMAGE],
  }))
  return { send: () => app.request('/', { method: 'POST' }), reached, metrics, finish }
}

const USAGE = { prompt_tokens: 593, completion_tokens: 12, total_tokens: 605 }

function completed(overrides: Partial<Completion> = {}): Completion {
  return {
    outcome: 'completed',
    status: 200,
    cache: 'miss',
    backend: 'main',
    usage: { usage: USAGE, source: 'upstream', imageTokens: 576 },
    ...overrides,
  }
}

async function tokenCounts(metrics: ReturnType<typeof createMetrics>) {
  return {
    prompt: await counterSum(metrics.promptTokens),
    completion: await counterSum(metrics.completionTokens),
    image: await counterSum(metrics.imageTokens),
    mismatches: await counterSum(metrics.usageMismatches),
  }
}

describe('countTokens: the prompt', () => {
  it('sets prompt to the exact count of the §3.3 worked example: 17 text + 576 image = 593', async () => {
    const { send, reached } = meterApp()
    expect((await send()).status).toBe(200)
    expect(reached[0]?.prompt).toEqual({ textTokens: 17, imageTokens: 576, images: 1, total: 593 })
  })

  it('counts each image with the model policy at the size the images step read', async () => {
    // openai-tiles, high detail: 640x480 (never upscaled) → 2x1 tiles of 512 → 85 + 2 × 170 = 425; a
    // default 336x336 would be one tile (255).
    const { send, reached } = meterApp({ model: PLAIN, body: { ...WORKED_EXAMPLE, model: 'plain-model' } })
    await send()
    expect(reached[0]?.prompt).toMatchObject({ imageTokens: 425, images: 1 })
  })

  it('counts a text-only prompt without images', async () => {
    const { send, reached } = meterApp({
      body: { model: 'llava-1.5-7b', messages: [{ role: 'user', content: 'Hello world!' }] },
      images: [],
    })
    await send()
    expect(reached[0]?.prompt).toMatchObject({ imageTokens: 0, images: 0 })
    expect(reached[0]?.prompt?.total).toBe(reached[0]?.prompt?.textTokens)
    expect(reached[0]?.prompt?.total).toBeGreaterThan(6) // more than the generation prompt alone
  })

  it('counts a prompt whose count waits for the worker thread (a piece of over 256 characters) as exactly', async () => {
    const text = `${'x9'.repeat(150)} and more`
    const body = { model: 'llava-1.5-7b', messages: [{ role: 'user', content: text }] }
    const { send, reached } = meterApp({ body, images: [] })
    expect((await send()).status).toBe(200)
    const exact = countPromptTokens([{ role: 'user', content: text }], { template: 'llava-1.5', imagePolicy: LLAVA.imageTokens })
    expect(reached[0]?.prompt).toEqual(exact)
  })

  it('counts each accepted image under the model label and its source', async () => {
    const { send, metrics } = meterApp()
    await send()
    expect(await counterSum(metrics.images, { model: 'llava-7b', source: 'url' })).toBe(1)
  })
})

describe('countTokens: tokens are metered when the finish line completes', () => {
  it('records nothing before the request has finished', async () => {
    const { send, metrics } = meterApp()
    await send()
    await settle()
    expect(await tokenCounts(metrics)).toEqual({ prompt: 0, completion: 0, image: 0, mismatches: 0 })
  })

  it("records the completion's usage under who asked, its source and cache result", async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    finish.complete(completed())
    await finish.done
    await settle()
    expect(await counterSum(metrics.promptTokens, { ...WHO, source: 'upstream', cache: 'miss' })).toBe(593)
    expect(await counterSum(metrics.completionTokens, { ...WHO, source: 'upstream', cache: 'miss' })).toBe(12)
    expect(await counterSum(metrics.imageTokens, { ...WHO, cache: 'miss' })).toBe(576)
    expect(await counterSum(metrics.usageMismatches)).toBe(0)
  })

  it('records a gateway-counted usage with source gateway', async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    finish.complete(completed({ outcome: 'client_aborted', usage: { usage: USAGE, source: 'gateway', imageTokens: 576 } }))
    await settle()
    expect(await counterSum(metrics.promptTokens, { source: 'gateway' })).toBe(593)
  })

  it('counts a mismatch when the backend counted the prompt well apart from the gateway', async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    const usage = { prompt_tokens: 700, completion_tokens: 12, total_tokens: 712 }
    finish.complete(completed({ usage: { usage, source: 'upstream', imageTokens: 576 } }))
    await settle()
    expect(await counterSum(metrics.usageMismatches, { model: 'llava-7b' })).toBe(1)
    expect(await counterSum(metrics.promptTokens)).toBe(700)
  })

  it('counts no mismatch within tokenizer noise (±2)', async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    const usage = { prompt_tokens: 595, completion_tokens: 12, total_tokens: 607 }
    finish.complete(completed({ usage: { usage, source: 'upstream', imageTokens: 576 } }))
    await settle()
    expect(await counterSum(metrics.usageMismatches)).toBe(0)
  })

  it('counts no mismatch for a cache hit (the usage is that of the request that filled the cache)', async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    const usage = { prompt_tokens: 700, completion_tokens: 12, total_tokens: 712 }
    finish.complete(completed({ cache: 'hit', usage: { usage, source: 'upstream', imageTokens: 576 } }))
    await settle()
    expect(await counterSum(metrics.promptTokens, { cache: 'hit' })).toBe(700)
    expect(await counterSum(metrics.usageMismatches)).toBe(0)
  })

  it('records nothing for a rejected completion (no usage)', async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    finish.complete({ outcome: 'rejected', status: 429, cache: 'none', error: { code: 'budget_exceeded', message: 'no' } })
    await settle()
    expect(await tokenCounts(metrics)).toEqual({ prompt: 0, completion: 0, image: 0, mismatches: 0 })
  })

  it('records once, however many times complete is called', async () => {
    const { send, metrics, finish } = meterApp()
    await send()
    finish.complete(completed())
    finish.complete(completed())
    await settle()
    expect(await counterSum(metrics.promptTokens)).toBe(593)
  })
})
