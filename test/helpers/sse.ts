import { expect } from 'vitest'

/** The `data:` payloads of an SSE text, in order, [DONE] included; checks the text is made of `data: ...\n\n` frames only. */
export function dataFrames(text: string): string[] {
  expect(text).toMatch(/^(data: [^\n]*\n\n)*$/)
  return text
    .split('\n\n')
    .filter((frame) => frame !== '')
    .map((frame) => frame.slice('data: '.length))
}

/** The JSON chunks of an SSE text that ends in [DONE] (checked), without it. */
export function jsonChunks(text: string): Array<Record<string, unknown>> {
  const data = dataFrames(text)
  expect(data.at(-1)).toBe('[DONE]')
  return data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>)
}

/** A stream's whole text. */
export async function readText(stream: ReadableStream<Uint8Array> | Response): Promise<string> {
  return (stream instanceof Response ? stream : new Response(stream)).text()
}

/** `bytes` cut at every offset into two chunks: [head, tail] for each cut from 0 to length. */
export function* everySplit(bytes: Uint8Array): Generator<[Uint8Array, Uint8Array]> {
  for (let at = 0; at <= bytes.length; at++) yield [bytes.subarray(0, at), bytes.subarray(at)]
}

/** An async iterable of the given chunks, as a backend's body arrives: for relays and parsers under test. */
export async function* chunksOf(...chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk
}

export const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
