// Strict RFC 2397 parsing of base64 `data:` URLs carrying client images.
//
// Only `data:<type>/<subtype>[;attribute=value]*;base64,<data>` is accepted. The data must be canonical
// standard base64: the RFC 4648 §4 alphabet, no whitespace, no URL-safe `-`/`_`, correct `=` padding and zero
// bits after the last byte. Node's Buffer.from(s, 'base64') silently skips junk and tolerates all of those,
// so many different strings would decode to the same bytes, and a string we accept could mean other bytes to
// an upstream that decodes differently. With one accepted spelling per byte sequence, the bytes we hash,
// cache and forward are exactly what the client sent. The scheme, the `base64` token and the media type are
// matched case-insensitively, as RFC 2397 (via RFC 2045) and the WHATWG fetch data-URL parser do.
//
// The declared MIME is reported but never trusted: the image's real type comes from sniffing its bytes.

export type DataUrlResult = { ok: true; declaredMime: string; bytes: Buffer } | { ok: false; reason: string }

// RFC 7230 `token` characters: RFC 2045's token minus `{` and `}`; quoted-string values are not accepted,
// which is what lets the first comma end the header.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}$`)
const PARAMETER = new RegExp(`^${TOKEN}=${TOKEN}$`)
// Media type plus parameters; anything longer is not a real client and only costs regex time.
const MAX_HEADER_LENGTH = 1024

export function parseDataUrl(url: string): DataUrlResult {
  if (url.slice(0, 5).toLowerCase() !== 'data:') return fail('not a data URL')
  const comma = url.indexOf(',')
  if (comma === -1) return fail('missing comma')
  const header = url.slice(5, comma)
  if (header.length > MAX_HEADER_LENGTH) return fail('media type too long')
  const [mediaType = '', ...parameters] = header.split(';')
  if (!mediaType.includes('/')) return fail('missing media type') // RFC 2397's text/plain default is no image
  if (!MEDIA_TYPE.test(mediaType)) return fail('invalid media type')
  if (parameters.pop()?.toLowerCase() !== 'base64') return fail('not base64-encoded') // `;base64` comes last
  if (!parameters.every((p) => PARAMETER.test(p))) return fail('invalid media type parameter')
  const data = url.slice(comma + 1)
  if (data.length === 0) return fail('empty image data')
  if (!isCanonicalBase64(data)) return fail('invalid base64')
  return { ok: true, declaredMime: mediaType.toLowerCase(), bytes: Buffer.from(data, 'base64') }
}

function fail(reason: string): DataUrlResult {
  return { ok: false, reason }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const SEXTET = new Int8Array(128).fill(-1) // char code → 6-bit value, −1 outside the standard alphabet
for (let i = 0; i < ALPHABET.length; i++) SEXTET[ALPHABET.charCodeAt(i)] = i
const PAD = 0x3d // '='

const sextet = (s: string, i: number): number => SEXTET[s.charCodeAt(i)] ?? -1

/**
 * True iff `s` is canonical padded base64. A loop, not the obvious regex
 * `^(?:[A-Za-z0-9+/]{4})*(?:…==|…=)?$`: on Node 20 that regex throws "Maximum call stack size exceeded"
 * on a 20 MB string (V8 keeps a backtrack entry per repetition), while this is linear and allocation-free.
 */
export function isCanonicalBase64(s: string): boolean {
  if (s.length === 0 || s.length % 4 !== 0) return false
  const padding = s.charCodeAt(s.length - 1) !== PAD ? 0 : s.charCodeAt(s.length - 2) === PAD ? 2 : 1
  const dataEnd = s.length - padding
  for (let i = 0; i < dataEnd; i++) if (sextet(s, i) < 0) return false
  // The last data character also carries unused low bits (4 of them before `==`, 2 before `=`); a
  // canonical encoder leaves them zero, otherwise e.g. "QR==" would be a second spelling of "QQ==".
  if (padding === 0) return true
  const unusedBits = padding === 2 ? 0b1111 : 0b11
  return (sextet(s, dataEnd - 1) & unusedBits) === 0
}
