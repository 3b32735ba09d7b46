import { describe, expect, it } from 'vitest'
import { parseJson, type DataUrlPayloads } from '../lib/json-parse.js'
import { scanJson } from '../lib/json-scan.js'
import { imagePartUrls } from './image-payloads.js'

/** The body as the body parse leaves it: long data URLs' payloads at image parts kept as bytes. */
async function parsed(value: unknown): Promise<{ body: Record<string, unknown>; payloads: DataUrlPayloads }> {
  const bytes = Buffer.from(JSON.stringify(value))
  const payloads: DataUrlPayloads = new Map()
  const { longStrings } = await scanJson(bytes, 64, 40)
  const body = (await parseJson(bytes, longStrings, { keepPayloads: { at: imagePartUrls, into: payloads } })) as Record<string, unknown>
  return { body, payloads }
}

const dataUrl = (n: number) => `data:image/png;base64,${'QUJD'.repeat(20)}${String(n).padStart(4, '0')}`
const imagePart = (url: string) => ({ type: 'image_url', image_url: { url } })

describe('imagePartUrls, as the body parse uses it', () => {
  it("keeps an image part's payload as bytes, and gives every other data URL its whole value back", async () => {
    const sent = {
      model: 'm',
      user: dataUrl(1),
      metadata: { nested: [dataUrl(2)] },
      messages: [
        { role: 'system', content: dataUrl(3) },
        { role: 'user', content: [imagePart(dataUrl(4)), { type: 'text', text: dataUrl(5) }] },
        { role: 'user', content: [{ type: 'text', text: 'hi', image_url: { url: dataUrl(6) } }, imagePart(dataUrl(7))] },
      ],
    }
    const { body, payloads } = await parsed(sent)
    const messages = sent.messages
    expect({ ...body, messages: undefined }).toEqual({ ...sent, messages: undefined })
    const [system, first, second] = body['messages'] as typeof messages
    expect(system).toEqual(messages[0])
    expect(first?.content[1]).toEqual({ type: 'text', text: dataUrl(5) })
    expect(second?.content[0]).toEqual({ type: 'text', text: 'hi', image_url: { url: dataUrl(6) } }) // not an image part
    const kept = [
      (first?.content[0] as ReturnType<typeof imagePart>).image_url.url,
      (second?.content[1] as ReturnType<typeof imagePart>).image_url.url,
    ]
    expect([...payloads.keys()]).toEqual(kept)
    expect(kept.map((placeholder) => `data:image/png;base64,${payloads.get(placeholder)?.toString('latin1')}`)).toEqual([
      dataUrl(4),
      dataUrl(7),
    ])
  })

  it('gives back the exact text, whatever its bytes', async () => {
    const text = `data:text/plain,${'é🦙 '.repeat(20)}`
    const { body, payloads } = await parsed({ messages: [{ role: 'user', content: text }] })
    expect(body).toEqual({ messages: [{ role: 'user', content: text }] })
    expect(payloads.size).toBe(0)
  })

  it('leaves a body with only image payloads as it is', async () => {
    const { body, payloads } = await parsed({ messages: [{ role: 'user', content: [imagePart(dataUrl(1))] }] })
    expect(payloads.size).toBe(1)
    expect((body['messages'] as Array<{ content: Array<{ image_url: { url: string } }> }>)[0]?.content[0]?.image_url.url).toBe(
      [...payloads.keys()][0],
    )
  })
})
