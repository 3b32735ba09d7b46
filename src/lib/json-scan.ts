export type TooDeep = { depth: number; path: ReadonlyArray<string | number> }

/** A string's span in the bytes: the offsets of its opening and closing quotes. */
export type Span = readonly [open: number, close: number]

/** What a scan of JSON bytes found: where they nest too deep, and the spans of the long strings. */
export type JsonScan = { tooDeep: TooDeep | undefined; longStrings: readonly Span[] }

/**
 * Bytes scanned between two turns of the event loop: a 32 MiB body never holds it for long. A body
 * of at most this many is scanned in one go by scanJsonNow, with no promise to wait on.
 */
export const SCAN_SLICE_BYTES = 1 << 20

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * A scan of raw JSON bytes before anything decodes or parses them. It finds where they nest deeper
 * than `maxDepth` (objects and arrays), so no later step (canonical JSON for the cache key,
 * re-serialising for the backend) ever recurses deeper than the limit, and the client learns which
 * field went too deep; and it notes every string value longer than `longStringBytes` (base64
 * images, huge texts), so parseJson can keep them out of JSON.parse. It reads bytes, not a decoded
 * string: quotes, backslashes and brackets are ASCII and never part of a multi-byte UTF-8
 * character, and a 32 MiB body decoded into one JavaScript string costs tens of milliseconds of
 * event loop by itself. Strings are skipped with native searches and the loop is given back every
 * megabyte. Malformed JSON is not this function's business: it stops, and JSON.parse says why.
 */
export async function scanJson(bytes: Buffer, maxDepth: number, longStringBytes = Number.POSITIVE_INFINITY): Promise<JsonScan> {
  const scanner = new Scanner(bytes, maxDepth, longStringBytes)
  for (;;) {
    const scan = scanner.scanTo(scanner.at + SCAN_SLICE_BYTES)
    if (scan) return scan
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/**
 * scanJson in one go, when the bytes are few enough to scan without giving the event loop back
 * (one slice); undefined for more, which scanJson scans: `scanJsonNow(…) ?? (await scanJson(…))`.
 * Most bodies and answers are a few hundred bytes, and an async scan of them costs more in promises
 * and turns of the microtask queue than in scanning.
 */
export function scanJsonNow(bytes: Buffer, maxDepth: number, longStringBytes = Number.POSITIVE_INFINITY): JsonScan | undefined {
  if (bytes.length > SCAN_SLICE_BYTES) return undefined
  return new Scanner(bytes, maxDepth, longStringBytes).scanTo(bytes.length)
}

/** An object's current key is kept as its span and decoded only for an error's path: most bodies never need it. */
type Frame = { array: boolean; index: number; keyOpen: number; keyClose: number }

/** A scan that can stop and go on: scanTo scans a stretch of the bytes at a time. */
class Scanner {
  /** Where the scan goes on from: past `end` when a string reached beyond it. */
  at = 0
  private readonly stack: Frame[] = []
  private readonly longStrings: Span[] = []
  private expectKey = false

  constructor(
    private readonly bytes: Buffer,
    private readonly maxDepth: number,
    private readonly longStringBytes: number,
  ) {}

  /** The scan's result once it has one (the end, a stop at malformed JSON, or too deep); undefined if it stopped at `end` with bytes left. */
  scanTo(end: number): JsonScan | undefined {
    const { bytes, stack, longStrings, maxDepth, longStringBytes } = this
    let expectKey = this.expectKey
    const stop = Math.min(end, bytes.length)
    let i = this.at
    for (; i < stop; i++) {
      const byte = bytes[i]
      if (byte === QUOTE) {
        const close = closingQuote(bytes, i + 1)
        if (close < 0) return { tooDeep: undefined, longStrings }
        const top = stack.at(-1)
        if (top && !top.array && expectKey) {
          top.keyOpen = i
          top.keyClose = close
        } else if (close - i - 1 > longStringBytes) longStrings.push([i, close]) // bytes between the quotes
        i = close
        continue
      }
      switch (byte) {
        case 0x7b: // {
        case 0x5b: // [
          stack.push({ array: byte === 0x5b, index: 0, keyOpen: -1, keyClose: -1 })
          expectKey = byte === 0x7b
          if (stack.length > maxDepth) {
            const path = stack.slice(0, -1).map((f) => (f.array || f.keyOpen < 0 ? f.index : keyName(bytes, f.keyOpen, f.keyClose)))
            return { tooDeep: { depth: stack.length, path }, longStrings }
          }
          break
        case 0x7d: // }
        case 0x5d: // ]
          stack.pop()
          expectKey = false
          break
        case 0x2c: {
          // ,
          const top = stack.at(-1)
          if (top?.array) top.index++
          else expectKey = true
          break
        }
        case 0x3a: // :
          expectKey = false
          break
      }
    }
    if (i >= bytes.length) return { tooDeep: undefined, longStrings }
    this.at = i
    this.expectKey = expectKey
    return undefined
  }
}

/** How many bytes of `bytes` lie outside the long strings: what JSON.parse itself would be given. */
export function bytesOutside(bytes: Buffer, longStrings: readonly Span[]): number {
  return longStrings.reduce((rest, [open, close]) => rest - (close + 1 - open), bytes.length)
}

/** The index of the quote that closes a string whose first byte is at `from`, or -1. */
function closingQuote(bytes: Buffer, from: number): number {
  for (let at = bytes.indexOf(QUOTE, from); at >= 0; at = bytes.indexOf(QUOTE, at + 1)) {
    let backslashes = 0
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return at
  }
  return -1
}

/** An object key for the error's path: decoded when short, cut (and marked) when not. */
function keyName(bytes: Buffer, open: number, close: number): string {
  if (close - open > 100) return `${bytes.toString('utf8', open + 1, open + 60)}…`
  const raw = bytes.toString('utf8', open, close + 1)
  try {
    return JSON.parse(raw) as string
  } catch {
    return raw.slice(1, -1)
  }
}
