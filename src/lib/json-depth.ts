export type TooDeep = { depth: number; path: ReadonlyArray<string | number> }

/** Characters scanned between two turns of the event loop: a 32 MiB body never holds it for long. */
const SLICE_CHARS = 1 << 20

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Where JSON text nests deeper than `maxDepth` (objects and arrays), found by a scan of the raw text
 * before anything parses it: so no later step (canonical JSON for the cache key, re-serialising for
 * the backend) ever recurses deeper than the limit, and the client learns which field went too
 * deep. Strings are skipped with native searches, so a body of large base64 images costs little.
 * Malformed text is not this function's business: it returns undefined and JSON.parse says why.
 */
export async function findTooDeep(text: string, maxDepth: number): Promise<TooDeep | undefined> {
  type Frame = { array: boolean; key: string | number }
  const stack: Frame[] = []
  let expectKey = false
  let nextYield = SLICE_CHARS
  for (let i = 0; i < text.length; i++) {
    if (i >= nextYield) {
      nextYield = i + SLICE_CHARS
      await new Promise((resolve) => setImmediate(resolve))
    }
    const ch = text.charCodeAt(i)
    if (ch === QUOTE) {
      const end = closingQuote(text, i + 1)
      if (end < 0) return undefined
      const top = stack.at(-1)
      if (top && !top.array && expectKey) top.key = keyName(text, i, end)
      i = end
      continue
    }
    switch (ch) {
      case 0x7b: // {
      case 0x5b: // [
        stack.push({ array: ch === 0x5b, key: 0 })
        expectKey = ch === 0x7b
        if (stack.length > maxDepth) return { depth: stack.length, path: stack.slice(0, -1).map((frame) => frame.key) }
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
  return undefined
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
