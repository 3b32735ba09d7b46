import { isAscii, isUtf8 } from 'node:buffer'
import type { Span } from './json-scan.js'

// JSON bytes into a value, after a scan (json-scan.ts) has found their long strings: V8 parses
// the small rest, and each long string is decoded on its own, or kept as bytes.

const BACKSLASH = 0x5c

/** Bytes that parseJson was to decode are not valid UTF-8. */
export class NotUtf8Error extends Error {
  constructor() {
    super('The JSON text is not valid UTF-8.')
    this.name = 'NotUtf8Error'
  }
}

/** `bytes` decoded as UTF-8, or NotUtf8Error: never a U+FFFD in place of bytes that mean nothing. */
function utf8Of(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw new NotUtf8Error()
  return bytes.toString('utf8')
}

/**
 * The base64 payloads of the long data URLs a parse left as bytes, by the placeholder URL that stands
 * for each in the parsed value: see parseJson.
 */
export type DataUrlPayloads = Map<string, Buffer>

/** A data URL's header (`data:<type>;base64,`) is within this many bytes: past the longest the image step accepts. */
const DATA_URL_HEADER_BYTES = 1_100

/**
 * What every placeholder of one parse starts with: a NUL and a random nonce, so that no string a
 * client sends is taken for one. Each long string's placeholder is this followed by its index.
 */
export const newPlaceholderMarker = (): string => `\u0000${Math.random().toString(36).slice(2)}:`

/**
 * Looks at a parse's value before its long strings are put back: each still stands there as a
 * placeholder string, and `longStringBytes` tells a placeholder's size in the body (the bytes
 * between its quotes, escapes as sent), undefined for any other string. It may throw to refuse the
 * body, which then costs no decoding: see parseJson.
 */
export type BeforeDecode = (value: unknown, longStringBytes: (value: string) => number | undefined) => void

/**
 * Where long data URLs stay bytes in one parse: `at` is told the parsed value (each long string
 * still a placeholder) and names the placeholders that stand where the caller reads a data URL as
 * an image; each of those that is a plain data URL goes into `into` (see parseJson).
 */
export type KeepPayloads = Readonly<{ at: (value: unknown) => ReadonlySet<string>; into: DataUrlPayloads }>

export type ParseOptions = Readonly<{ keepPayloads?: KeepPayloads | undefined; beforeDecode?: BeforeDecode | undefined }>

/**
 * JSON.parse of UTF-8 bytes, with the long strings a scan found kept out of it: V8 parses the small
 * rest, and each long string is decoded on its own (decodeLongString), so no step decodes or parses
 * the whole body in one call. The rest is parsed first, each long string a placeholder in it, and
 * shown to `beforeDecode`: a 32 MiB text that cannot fit any context window is refused unread.
 * Then `keepPayloads.at` names the places where a long plain data URL is not decoded at all: its
 * value is its header followed by a placeholder (`data:image/png;base64,\u0000<nonce>:<n>`), and
 * its payload bytes go into `keepPayloads.into` under that value, for the image step to decode in
 * slices and the upstream step to forward as they are (copying a 27 MB payload into a string alone
 * holds the event loop for 15-30 ms). Every other long string, a data URL or not, is decoded where
 * it stands, so no placeholder is left anywhere but where the caller asked.
 *
 * Strict UTF-8: every byte that is decoded is checked first, and invalid UTF-8 throws
 * NotUtf8Error rather than turning into U+FFFD. A payload kept as bytes is not decoded, so it is
 * not checked here: it is the caller's to check (the image step accepts only base64's alphabet),
 * and a 27 MB image is not read once more for a verdict its own check gives anyway.
 */
export async function parseJson(bytes: Buffer, longStrings: readonly Span[], options: ParseOptions = {}): Promise<unknown> {
  if (longStrings.length === 0) return parseJsonNow(bytes)
  const marker = newPlaceholderMarker()
  const raws = new Map<string, Buffer>() // each long string's bytes (between its quotes), by its placeholder
  const skeleton: string[] = []
  let from = 0
  // Quotes are ASCII, never inside a character: each stretch between long strings is whole UTF-8 or not.
  for (const [n, [open, close]] of longStrings.entries()) {
    skeleton.push(utf8Of(bytes.subarray(from, open)), JSON.stringify(`${marker}${n}`))
    raws.set(`${marker}${n}`, bytes.subarray(open + 1, close))
    from = close + 1
  }
  skeleton.push(utf8Of(bytes.subarray(from)))
  const value: unknown = JSON.parse(skeleton.join(''))
  options.beforeDecode?.(value, (placeholder) => raws.get(placeholder)?.length)
  const keep = options.keepPayloads
  const places = keep?.at(value)
  const lifted = new Map<string, string>()
  for (const [placeholder, raw] of raws) {
    const comma = places?.has(placeholder) ? dataUrlComma(raw) : -1
    if (keep && comma > 0) {
      const url = `${raw.toString('latin1', 0, comma + 1)}${placeholder}`
      keep.into.set(url, raw.subarray(comma + 1))
      lifted.set(placeholder, url)
    } else {
      lifted.set(placeholder, await decodeLongString(raw))
    }
  }
  return restore(value, lifted)
}

/** parseJson of bytes with no long strings (nothing to keep out of JSON.parse), at once: strict UTF-8, then JSON.parse. */
export function parseJsonNow(bytes: Buffer): unknown {
  return JSON.parse(utf8Of(bytes))
}

/** Where the comma after a plain (unescaped) data URL's header is, or -1. */
function dataUrlComma(raw: Buffer): number {
  if (!raw.subarray(0, DATA_URL.length).equals(DATA_URL)) return -1
  const comma = raw.subarray(0, DATA_URL_HEADER_BYTES).indexOf(0x2c)
  if (comma < 0 || raw.includes(BACKSLASH) || !isAscii(raw.subarray(0, comma))) return -1
  return comma
}

/** Bytes of a long string decoded per turn of the event loop. */
const PIECE_BYTES = 1 << 20

/** A data URL's bytes begin with this. */
const DATA_URL = Buffer.from('data:')

/**
 * The value of a JSON string from its raw bytes (between the quotes), decoded a megabyte at a time,
 * cut where no character or escape is split, with the event loop given back in between. The pieces
 * are joined lazily (a rope): nothing before the context-window check reads the characters of a
 * text, so a 32 MiB text too long to fit is refused without ever being copied into one string.
 * (A large plain data URL at an image part's URL does not get here: parseJson keeps its payload as bytes.)
 * Bytes that are not UTF-8 throw NotUtf8Error; ASCII without escapes, the usual long string, is read once.
 */
export async function decodeLongString(raw: Buffer): Promise<string> {
  const escaped = raw.includes(BACKSLASH)
  const ascii = !escaped && isAscii(raw)
  if (!ascii && !isUtf8(raw)) throw new NotUtf8Error()
  const encoding = ascii ? 'latin1' : 'utf8'
  let value = ''
  for (let at = 0; at < raw.length;) {
    const end = safeCut(raw, Math.min(raw.length, at + PIECE_BYTES))
    const piece = raw.toString(encoding, at, end)
    // JSON.parse undoes the escapes, and refuses what the whole parse would (raw control characters).
    value += escaped ? (JSON.parse(`"${piece}"`) as string) : piece
    at = end
    if (at < raw.length) await new Promise((resolve) => setImmediate(resolve))
  }
  return value
}

/** `end`, moved back (a few bytes at most) so that it splits neither a UTF-8 character nor an escape. */
export function safeCut(raw: Buffer, end: number): number {
  if (end >= raw.length) return raw.length
  while (end > 0 && ((raw[end] ?? 0) & 0xc0) === 0x80) end-- // a continuation byte: the character started earlier
  // An escape "\uXXXX" whose "u" is up to 4 bytes back would be cut: cut before its backslash.
  for (let back = 1; back <= 4 && end - back - 1 >= 0; back++) {
    if (raw[end - back] === 0x75 && escapes(raw, end - back - 1)) return end - back - 1
  }
  // A lone backslash that escapes the byte at `end` would be cut from it: cut before it.
  return end > 0 && escapes(raw, end - 1) ? end - 1 : end
}

/** Whether the backslash at `at` escapes the next byte: it ends an odd run of backslashes. */
function escapes(raw: Buffer, at: number): boolean {
  let run = 0
  while (at - run >= 0 && raw[at - run] === BACKSLASH) run++
  return run % 2 === 1
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
