export type TooDeep = { depth: number; path: ReadonlyArray<string | number> }

/** What a scan of JSON text found: where it nests too deep, and the spans of its long strings. */
export type JsonScan = { tooDeep: TooDeep | undefined; longStrings: ReadonlyArray<readonly [open: number, close: number]> }

/** Characters scanned between two turns of the event loop: a 32 MiB body never holds it for long. */
const SLICE_CHARS = 1 << 20

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * A scan of raw JSON text before anything parses it. It finds where the text nests deeper than
 * `maxDepth` (objects and arrays), so no later step (canonical JSON for the cache key, re-serialising
 * for the backend) ever recurses deeper than the limit, and the client learns which field went too
 * deep; and it notes every string longer than `longStringChars` (base64 images), so parseJson can
 * leave them out of JSON.parse. Strings are skipped with native searches, so a body of large images
 * costs little, and the loop is given back every megabyte. Malformed text is not this function's
 * business: it stops, and JSON.parse says why.
 */
export async function scanJson(text: string, maxDepth: number, longStringChars = Number.POSITIVE_INFINITY): Promise<JsonScan> {
  type Frame = { array: boolean; key: string | number }
  const stack: Frame[] = []
  const longStrings: Array<readonly [number, number]> = []
  let expectKey = false
  let nextYield = SLICE_CHARS
  for (let i = 0; i < text.length; i++) {
    if (i >= nextYield) {
      nextYield = i + SLICE_CHARS
      await new Promise((resolve) => setImmediate(resolve))
    }
    const ch = text.charCodeAt(i)
    if (ch === QUOTE) {
      const close = closingQuote(text, i + 1)
      if (close < 0) break
      const top = stack.at(-1)
      if (top && !top.array && expectKey) top.key = keyName(text, i, close)
      else if (close - i > longStringChars) longStrings.push([i, close])
      i = close
      continue
    }
    switch (ch) {
      case 0x7b: // {
      case 0x5b: // [
        stack.push({ array: ch === 0x5b, key: 0 })
        expectKey = ch === 0x7b
        if (stack.length > maxDepth) return { tooDeep: { depth: stack.length, path: stack.slice(0, -1).map((f) => f.key) }, longStrings }
        break
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop()
        expectKey = false
        break
      case 0x2c: {
        // ,
        const top = stack.at(-1)
        if (top?.array) top.key = (top.key as number) + 1
        else expectKey = true
        break
      }
      case 0x3a: // :
        expectKey = false
        break
    }
  }
  return { tooDeep: undefined, longStrings }
}

/** Where JSON text nests deeper than `maxDepth`, if it does (see scanJson). */
export async function findTooDeep(text: string, maxDepth: number): Promise<TooDeep | undefined> {
  return (await scanJson(text, maxDepth)).tooDeep
}

/**
 * JSON.parse, with the long strings a scan found taken out first: V8 parses the small rest, and each
 * long string becomes a slice of the text (no copy, no character-by-character parse), unless it has
 * escapes, which only JSON.parse itself may undo. A 27 MB body holding one base64 image parses in
 * microseconds instead of tens of milliseconds on the event loop every tenant shares.
 */
export function parseJson(text: string, longStrings: JsonScan['longStrings']): unknown {
  if (longStrings.length === 0) return JSON.parse(text)
  const marker = `\u0000${Math.random().toString(36).slice(2)}:`
  const lifted = new Map<string, string>()
  const skeleton: string[] = []
  let from = 0
  longStrings.forEach(([open, close], n) => {
    skeleton.push(text.slice(from, open), JSON.stringify(`${marker}${n}`))
    const raw = text.slice(open + 1, close)
    lifted.set(`${marker}${n}`, raw.includes('\\') ? (JSON.parse(text.slice(open, close + 1)) as string) : raw)
    from = close + 1
  })
  skeleton.push(text.slice(from))
  return restore(JSON.parse(skeleton.join('')), lifted)
}

/** Puts the long strings back where their markers stand; the depth is already bounded by the scan. */
function restore(value: unknown, lifted: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return lifted.get(value) ?? value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restore(value[i], lifted)
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) record[key] = restore(record[key], lifted)
  }
  return value
}

/** The index of the quote that closes a string whose first character is at `from`, or -1. */
function closingQuote(text: string, from: number): number {
  for (let at = text.indexOf('"', from); at >= 0; at = text.indexOf('"', at + 1)) {
    let backslashes = 0
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return at
  }
  return -1
}

/** An object key for the error's path: decoded when short, cut (and marked) when not. */
function keyName(text: string, open: number, close: number): string {
  if (close - open > 100) return `${text.slice(open + 1, open + 60)}…`
  try {
    return JSON.parse(text.slice(open, close + 1)) as string
  } catch {
    return text.slice(open + 1, close)
  }
}
