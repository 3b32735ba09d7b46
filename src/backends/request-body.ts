/**
 * A request body sent in pieces: its exact length up front (Content-Length, so every backend can
 * read it), and its bytes produced as the socket takes them. The gateway sends large image
 * payloads this way rather than as one serialised string: building and copying a 27 MB JSON string
 * holds the event loop for a hundred milliseconds, every tenant waiting behind it.
 */
export type StreamedBody = Readonly<{ length: number; chunks(): AsyncIterable<Uint8Array> }>

/** JSON text, the bytes of a small body with inline images, or a large one in pieces. */
export type RequestBody = string | Buffer | StreamedBody

/** The whole body as text (tests, and small bodies). */
export async function bodyText(body: RequestBody | undefined): Promise<string> {
  if (body === undefined) return ''
  if (typeof body === 'string') return body
  if (Buffer.isBuffer(body)) return body.toString('utf8')
  const parts: Uint8Array[] = []
  for await (const chunk of body.chunks()) parts.push(chunk)
  return Buffer.concat(parts).toString('utf8')
}
