import { newPlaceholderMarker, type BeforeDecode } from './json-parse.js'
import { scanJson } from './json-scan.js'

/** What a look at a body still in its chunks gives a BeforeDecode check: see aroundLongStrings. */
export type AroundLongStrings = { value: unknown; longStringBytes: (value: string) => number | undefined }

export type AroundLimits = Readonly<{
  /** Strings longer than this (bytes between the quotes) stand in the value as placeholders. */
  longStringBytes: number
  /** More JSON than this outside the long strings, and there is no value: the joined body's parse decides. */
  maxOutsideBytes: number
  /** Nesting deeper than this, and there is no value: the joined body's scan refuses it, naming where. */
  maxDepth: number
}>

/** Bytes searched between two turns of the event loop. */
const SLICE_BYTES = 1 << 20
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * JSON still in the chunks it arrived in, parsed around its long strings, each standing in the value
 * as a placeholder, as parseJson shows a joined body to a BeforeDecode check: so a body that check
 * refuses (a 32 MiB text that cannot fit) is refused before it is joined. Joining copies every byte
 * into new memory, and a second 32 MiB beside the chunks' own starts a full garbage collection: a
 * 32 MiB text cost 79 ms of CPU to refuse after its join, 35 before it. Undefined when the
 * value would not be the whole story (too much JSON outside the long strings, nesting too deep, JSON
 * that does not parse): the joined body's own checks then say what is wrong. Strings are found with
 * native searches, the event loop given back every megabyte searched.
 */
export async function aroundLongStrings(chunks: readonly Uint8Array[], limits: AroundLimits): Promise<AroundLongStrings | undefined> {
  const bytes = new ChunkBytes(chunks)
  const outside: Buffer[] = []
  const sizes = new Map<string, number>()
  const marker = newPlaceholderMarker()
  let placeholders = 0
  let outsideBytes = 0
  /** The start of the JSON outside long strings not yet copied. */
  let from = 0
  // Outside a string every quote opens one: the search jumps from string to string.
  for (let open = bytes.indexOf(QUOTE, 0, bytes.length); open >= 0;) {
    const close = await bytes.closingQuote(open + 1)
    if (close < 0) return undefined
    if (close - open - 1 > limits.longStringBytes) {
      const placeholder = `${marker}${placeholders++}`
      outside.push(bytes.copy(from, open), Buffer.from(JSON.stringify(placeholder)))
      outsideBytes += open - from
      sizes.set(placeholder, close - open - 1)
      from = close + 1
    }
    // What lies between two long strings is read a string at a time: no more than this, in all.
    if (outsideBytes + (close + 1 - from) > limits.maxOutsideBytes) return undefined
    open = bytes.indexOf(QUOTE, close + 1, bytes.length)
  }
  if (outsideBytes + (bytes.length - from) > limits.maxOutsideBytes) return undefined
  outside.push(bytes.copy(from, bytes.length))
  const skeleton = Buffer.concat(outside)
  if ((await scanJson(skeleton, limits.maxDepth)).tooDeep) return undefined
  let value: unknown
  try {
    value = JSON.parse(skeleton.toString('utf8'))
  } catch {
    return undefined
  }
  return { value, longStringBytes: (placeholder) => sizes.get(placeholder) }
}

/** Runs `check` on a body still in its chunks, when aroundLongStrings can show it one. */
export async function checkBeforeJoin(chunks: readonly Uint8Array[], limits: AroundLimits, check: BeforeDecode): Promise<void> {
  const around = await aroundLongStrings(chunks, limits)
  if (around) check(around.value, around.longStringBytes)
}

/** Chunks read as one run of bytes, by offset from the first. */
class ChunkBytes {
  readonly length: number
  private readonly chunks: readonly Buffer[]
  private readonly starts: number[] = []

  constructor(chunks: readonly Uint8Array[]) {
    // Views, not copies: Buffer.from(Uint8Array) would copy each chunk.
    this.chunks = chunks.map((chunk) => (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
    let at = 0
    for (const chunk of this.chunks) {
      this.starts.push(at)
      at += chunk.byteLength
    }
    this.length = at
  }

  /** Where `byte` first occurs in [from, to), or -1. */
  indexOf(byte: number, from: number, to: number): number {
    for (let i = this.chunkAt(from); i < this.chunks.length; i++) {
      const start = this.starts[i] ?? 0
      if (start >= to) break
      const found = (this.chunks[i] as Buffer).indexOf(byte, Math.max(0, from - start))
      if (found >= 0) return start + found < to ? start + found : -1
    }
    return -1
  }

  /**
   * The quote that closes a string whose first byte is at `from` (one not escaped), or -1; the
   * event loop is given back every SLICE_BYTES searched.
   */
  async closingQuote(from: number): Promise<number> {
    for (let at = from; ;) {
      const quote = await this.search(QUOTE, at, this.length)
      if (quote < 0) return -1
      // The run of backslashes before it ends at the opening quote at the latest.
      let backslashes = 0
      while (this.byteAt(quote - 1 - backslashes) === BACKSLASH) backslashes++
      if (backslashes % 2 === 0) return quote
      at = quote + 1
    }
  }

  /** Bytes [from, to) as a Buffer of their own. */
  copy(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe(Math.max(0, to - from))
    for (let i = this.chunkAt(from), at = from; at < to && i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as Buffer
      const start = this.starts[i] ?? 0
      const piece = chunk.subarray(at - start, Math.min(chunk.byteLength, to - start))
      out.set(piece, at - from)
      at += piece.byteLength
    }
    return out
  }

  /** indexOf over [from, to), giving the event loop back every SLICE_BYTES searched. */
  private async search(byte: number, from: number, to: number): Promise<number> {
    for (let at = from; at < to;) {
      const end = Math.min(to, at + SLICE_BYTES)
      const found = this.indexOf(byte, at, end)
      if (found >= 0) return found
      at = end
      if (at < to) await new Promise((resolve) => setImmediate(resolve))
    }
    return -1
  }

  private byteAt(at: number): number {
    const i = this.chunkAt(at)
    return this.chunks[i]?.[at - (this.starts[i] ?? 0)] ?? -1
  }

  /** The chunk holding offset `at` (the last chunk for an offset past the end). */
  private chunkAt(at: number): number {
    let low = 0
    let high = this.starts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if ((this.starts[mid] ?? 0) <= at) low = mid
      else high = mid - 1
    }
    return low
  }
}
