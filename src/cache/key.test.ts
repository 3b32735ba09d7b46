import { describe, it, expect } from 'vitest'
import type { Principal } from '../auth/principal.js'
import { loadConfig } from '../config/load.js'
import type { CacheConfig } from '../config/schema.js'
import type { RequestImage } from '../images/image-identity.js'
import { sha256Hex } from '../lib/sha256.js'
import { stableJson } from '../lib/stable-json.js'
import { ChatRequestSchema, type ChatRequest } from '../validate/chat-request-schema.js'
import { cacheKey } from './key.js'

const MODEL = 'llava-hf/llava-1.5-7b-hf'

function cacheConfig(cache: Record<string, unknown> = {}): CacheConfig {
  return loadConfig(
    {},
    {
      backends: { main: { baseUrl: 'http://127.0.0.1:9', kind: 'openai' } },
      models: [{ id: MODEL, backend: 'main' }],
      keys: [{ alias: 'team-a-key', team: 'team-a', secret: 'sk-test' }],
      cache,
    },
  ).config.cache
}

const TEAM_A_KEY_1: Principal = { keyAlias: 'a-1', team: 'team-a', role: 'user' as const, models: undefined, budgets: [] }
const TEAM_A_KEY_2: Principal = { keyAlias: 'a-2', team: 'team-a', role: 'user' as const, models: undefined, budgets: [] }
const TEAM_B_KEY: Principal = { keyAlias: 'b-1', team: 'team-b', role: 'user' as const, models: undefined, budgets: [] }

const parse = (body: Record<string, unknown>): ChatRequest => ChatRequestSchema.parse(body)

const PNG_SHA = 'a'.repeat(64)
const OTHER_SHA = 'b'.repeat(64)
const PIXELS = Buffer.from('not really a png, the key never reads the bytes')

function image(digest: string, url: string, source: 'url' | 'data' = 'url', at = { messageIndex: 0, partIndex: 0 }): RequestImage {
  const sha256 = () => Promise.resolve(digest)
  const checked = { sha256, mime: 'image/png' as const, width: 336, height: 336, byteLength: PIXELS.length }
  const payload = source === 'url' ? { source, bytes: PIXELS } : { source, base64: PIXELS.toString('base64') }
  return { ...at, url, identity: { ...checked, ...payload } }
}

/** A user message with one image (part 0) and one text part (part 1). */
function withImage(url: string, extra: Record<string, unknown> = {}, detail?: 'auto' | 'low' | 'high'): ChatRequest {
  return parse({
    model: MODEL,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } },
          { type: 'text', text: 'What is in this image?' },
        ],
      },
    ],
    ...extra,
  })
}

const text = (extra: Record<string, unknown> = {}): ChatRequest =>
  parse({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], ...extra })

const config = cacheConfig()
const keyOf = (request: ChatRequest, images: readonly RequestImage[] = [], principal = TEAM_A_KEY_1, cfg = config) =>
  cacheKey(request, images, principal, cfg)

describe('cacheKey: shape', () => {
  it('starts with keyPrefix + "cache:v1:" and ends with 64 hex characters in braces (the hash tag)', async () => {
    expect(await keyOf(text())).toMatch(/^llava-gateway:cache:v1:\{[0-9a-f]{64}\}$/)
    const custom = cacheConfig({ keyPrefix: 'staging/' })
    expect(await keyOf(text(), [], TEAM_A_KEY_1, custom)).toMatch(/^staging\/cache:v1:\{[0-9a-f]{64}\}$/)
  })

  it('is the key itself, not a promise, for a request without images; with images it waits for their digests', async () => {
    const plain = keyOf(text())
    expect(typeof plain).toBe('string')
    const withDigest = keyOf(withImage('https://a.example/cat.png'), [image(PNG_SHA, 'https://a.example/cat.png')])
    expect(withDigest).toBeInstanceOf(Promise)
    expect(await withDigest).toMatch(/^llava-gateway:cache:v1:\{[0-9a-f]{64}\}$/)
  })

  // Entries outlive a deploy (Redis), so the hashed document is part of the v1 format: a change to
  // it must come with a new version, or every stored entry silently misses after an upgrade.
  it('is the sha256 of the canonical v1 document: scope, model, messages with image identities, kept parameters', async () => {
    const request = parse({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'https://a.example/cat.png', detail: 'low' } },
            { type: 'text', text: 'What is in this image?' },
          ],
        },
      ],
      temperature: 0,
      max_tokens: 50,
      stream: true,
      user: 'end-user-42',
    })
    const document = {
      v: 1,
      scope: 'team:team-a',
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'image', sha256: PNG_SHA, mime: 'image/png', detail: 'low' },
            { type: 'text', text: 'What is in this image?' },
          ],
        },
      ],
      params: { max_tokens: 50, temperature: 0 },
    }
    const images = [image(PNG_SHA, 'https://a.example/cat.png', 'url', { messageIndex: 1, partIndex: 0 })]
    expect(await keyOf(request, images)).toBe(`llava-gateway:cache:v1:{${sha256Hex(stableJson(document))}}`)
    // The scope part for the other two scopes.
    for (const [scope, expected] of [
      ['key', 'key:a-1'],
      ['shared', 'shared'],
    ] as const) {
      expect(await keyOf(request, images, TEAM_A_KEY_1, cacheConfig({ scope }))).toBe(
        `llava-gateway:cache:v1:{${sha256Hex(stableJson({ ...document, scope: expected }))}}`,
      )
    }
  })

  it('is the same for the same request (deterministic)', async () => {
    expect(await keyOf(text())).toBe(await keyOf(text()))
  })

  it('differs with the model and with the messages', async () => {
    expect(await keyOf(text())).not.toBe(await keyOf(text({ model: 'llava-other' })))
    expect(await keyOf(text())).not.toBe(await keyOf(parse({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }] })))
  })
})

describe('cacheKey: images by content', () => {
  it('is the same for the same image bytes fetched from different URLs', async () => {
    const a = await keyOf(withImage('https://a.example/cat.png'), [image(PNG_SHA, 'https://a.example/cat.png')])
    const b = await keyOf(withImage('https://b.example/x?sig=123'), [image(PNG_SHA, 'https://b.example/x?sig=123')])
    expect(a).toBe(b)
  })

  it('is the same for an image sent as a URL and the same bytes sent as a data URL', async () => {
    const dataUrl = `data:image/png;base64,${PIXELS.toString('base64')}`
    const byUrl = await keyOf(withImage('https://a.example/cat.png'), [image(PNG_SHA, 'https://a.example/cat.png')])
    const byData = await keyOf(withImage(dataUrl), [image(PNG_SHA, dataUrl, 'data')])
    expect(byData).toBe(byUrl)
  })

  it('differs when the image content (sha256) differs at the same URL', async () => {
    const url = 'https://a.example/cat.png'
    expect(await keyOf(withImage(url), [image(PNG_SHA, url)])).not.toBe(await keyOf(withImage(url), [image(OTHER_SHA, url)]))
  })

  it('differs with the mime type of the same hash', async () => {
    const url = 'https://a.example/cat.png'
    const png = image(PNG_SHA, url)
    const jpeg: RequestImage = { ...png, identity: { ...png.identity, mime: 'image/jpeg' } }
    expect(await keyOf(withImage(url), [png])).not.toBe(await keyOf(withImage(url), [jpeg]))
  })

  it('matches each image to its own part: swapping two images changes the key', async () => {
    const request = parse({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'https://a.example/1.png' } },
            { type: 'image_url', image_url: { url: 'https://a.example/2.png' } },
          ],
        },
      ],
    })
    const first = await keyOf(request, [image(PNG_SHA, 'u1'), image(OTHER_SHA, 'u2', 'url', { messageIndex: 0, partIndex: 1 })])
    const swapped = await keyOf(request, [image(OTHER_SHA, 'u1'), image(PNG_SHA, 'u2', 'url', { messageIndex: 0, partIndex: 1 })])
    expect(first).not.toBe(swapped)
  })

  // LLaVA-1.5 sees every image at 336x336 whatever `detail` says, but the gateway can front
  // other vision models (OpenAI-compatible ones with tiling) for which detail changes the answer.
  it('keeps image detail in the key (non-LLaVA models use it): low vs high vs absent differ', async () => {
    const url = 'https://a.example/cat.png'
    const images = [image(PNG_SHA, url)]
    const low = await keyOf(withImage(url, {}, 'low'), images)
    const high = await keyOf(withImage(url, {}, 'high'), images)
    const absent = await keyOf(withImage(url), images)
    expect(new Set([low, high, absent]).size).toBe(3)
  })
})

describe('cacheKey: parameters left out', () => {
  it.each([
    ['stream', { stream: true }],
    ['stream + stream_options', { stream: true, stream_options: { include_usage: true } }],
    ['user', { user: 'end-user-42' }],
    ['metadata', { metadata: { trace: 'abc' } }],
    ['service_tier', { service_tier: 'flex' }],
    ['store', { store: true }],
    ['safety_identifier', { safety_identifier: 'x' }],
    ['prompt_cache_key', { prompt_cache_key: 'x' }],
    ['prompt_cache_retention', { prompt_cache_retention: '24h' }],
  ])('ignores %s', async (_name, extra) => {
    expect(await keyOf(text({ temperature: 0, ...extra }))).toBe(await keyOf(text({ temperature: 0 })))
  })

  it('treats temperature: null the same as no temperature', async () => {
    expect(await keyOf(text({ temperature: null }))).toBe(await keyOf(text()))
  })

  it('treats null for an unknown parameter the same as absent', async () => {
    expect(await keyOf(text({ foo: null }))).toBe(await keyOf(text()))
  })
})

describe('cacheKey: parameters kept', () => {
  const base = text({ temperature: 0 })
  it.each([
    ['temperature', { temperature: 0.5 }],
    ['top_p', { top_p: 0.9 }],
    ['max_tokens', { max_tokens: 100 }],
    ['max_completion_tokens', { max_completion_tokens: 100 }],
    ['stop', { stop: ['\n'] }],
    ['seed', { seed: 7 }],
    ['n', { n: 2 }],
    ['response_format', { response_format: { type: 'json_object' } }],
    ['tools', { tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }],
    ['an unknown parameter', { foo: 1 }],
  ])('includes %s', async (_name, extra) => {
    expect(await keyOf(text({ temperature: 0, ...extra }))).not.toBe(await keyOf(base))
  })

  it('distinguishes values of a kept parameter (max_tokens 100 vs 200)', async () => {
    expect(await keyOf(text({ max_tokens: 100 }))).not.toBe(await keyOf(text({ max_tokens: 200 })))
  })
})

describe('cacheKey: key order', () => {
  it('does not depend on the order of the request body keys', async () => {
    const a = parse({ model: MODEL, temperature: 0, max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] })
    const b = parse({ messages: [{ content: 'Hi', role: 'user' }], max_tokens: 50, temperature: 0, model: MODEL })
    expect(await keyOf(a)).toBe(await keyOf(b))
  })

  it('does not depend on key order inside nested objects (response_format json_schema)', async () => {
    const a = text({
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'answer',
          strict: true,
          schema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } },
        },
      },
    })
    const b = text({
      response_format: {
        json_schema: {
          schema: { properties: { b: { type: 'number' }, a: { type: 'string' } }, type: 'object' },
          strict: true,
          name: 'answer',
        },
        type: 'json_schema',
      },
    })
    expect(await keyOf(a)).toBe(await keyOf(b))
  })
})

describe('cacheKey: scope', () => {
  it('team: keys of the same team share entries', async () => {
    const team = cacheConfig({ scope: 'team' })
    expect(await keyOf(text(), [], TEAM_A_KEY_1, team)).toBe(await keyOf(text(), [], TEAM_A_KEY_2, team))
  })

  it('team: different teams do not', async () => {
    const team = cacheConfig({ scope: 'team' })
    expect(await keyOf(text(), [], TEAM_A_KEY_1, team)).not.toBe(await keyOf(text(), [], TEAM_B_KEY, team))
  })

  it('team is the default scope', async () => {
    expect(config.scope).toBe('team')
    expect(await keyOf(text(), [], TEAM_A_KEY_1)).not.toBe(await keyOf(text(), [], TEAM_B_KEY))
  })

  it('key: different key aliases do not share entries, even in one team', async () => {
    const key = cacheConfig({ scope: 'key' })
    expect(await keyOf(text(), [], TEAM_A_KEY_1, key)).not.toBe(await keyOf(text(), [], TEAM_A_KEY_2, key))
    expect(await keyOf(text(), [], TEAM_A_KEY_1, key)).toBe(await keyOf(text(), [], { ...TEAM_A_KEY_1 }, key))
  })

  it('shared: different teams share entries', async () => {
    const shared = cacheConfig({ scope: 'shared' })
    expect(await keyOf(text(), [], TEAM_A_KEY_1, shared)).toBe(await keyOf(text(), [], TEAM_B_KEY, shared))
  })

  it('a team named like a key alias does not collide with it across scopes', async () => {
    const clash: Principal = { keyAlias: 'x', team: 'x', role: 'user' as const, models: undefined, budgets: [] }
    expect(await keyOf(text(), [], clash, cacheConfig({ scope: 'team' }))).not.toBe(
      await keyOf(text(), [], clash, cacheConfig({ scope: 'key' })),
    )
  })
})
