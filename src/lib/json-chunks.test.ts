import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../test/helpers/seeded-random.js'
import { turnsWhile } from '../../test/helpers/turns.js'
import { aroundLongStrings, checkBeforeJoin, type AroundLimits } from './json-chunks.js'
import { parseJson } from './json-parse.js'
import { scanJson } from './json-scan.js'

const LONG = 40
const limits: AroundLimits = { longStringBytes: LONG, maxOutsideBytes: 4_096, maxDepth: 16 }

/** `bytes` cut where `cuts` say (offsets), as a socket might deliver them. */
const cutAt = (bytes: Buffer, cuts: readonly number[]) => {
  const ends = [...new Set([...cuts, bytes.length])].sort((a, b) => a - b)
  let from = 0
  return ends.map((end) => {
    const chunk = bytes.subarray(from, end)
    from = end
    return chunk
  })
}

/** A value with each placeholder spelled as what it stands for: a long string of its size. */
function spelled(value: unknown, longStringBytes: (s: string) => number | undefined): unknown {
  if (typeof value === 'string') {
    const bytes = longStringBytes(value)
    return bytes === undefined ? value : `<long string of ${bytes} bytes>`
  }
  if (Array.isArray(value)) return value.map((item) => spelled(item, longStringBytes))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, spelled(item, longStringBytes)]))
  }
  return value
}

/** What parseJson shows its BeforeDecode check for the joined bytes, spelled out. */
async function joinedView(bytes: Buffer): Promise<unknown> {
  let view: unknown
  await parseJson(bytes, (await scanJson(bytes, 64, LONG)).longStrings, {
    beforeDecode: (value, longStringBytes) => {
      view = spelled(value, longStringBytes)
    },
  })
  return view
}

async function chunkedView(chunks: readonly Uint8Array[], withLimits = limits): Promise<unknown> {
  const around = await aroundLongStrings(chunks, withLimits)
  return around && spelled(around.value, around.longStringBytes)
}

describe('aroundLongStrings', () => {
  const body = {
    model: 'm',
    messages: [
      { role: 'system', content: 'short, with "quotes" and a \\ backslash' },
      { role: 'user', content: `a long text: ${'é🦙 "quoted" \\ back\\\\slashes\n'.repeat(4)}` },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${'QUJD'.repeat(30)}` } }] },
      { role: 'user', content: [{ type: 'text', text: `\\${'"'.repeat(LONG)}\\` }] },
      { role: 'user', content: `data:text/plain;base64,${'QUJD'.repeat(12)}\n` }, // escaped: decoded as a text by parseJson, its size told all the same
      {
        role: 'user',
        content: [
          { type: 'text', text: 'y'.repeat(LONG) },
          { type: 'text', text: 'z'.repeat(LONG + 1) },
        ],
      }, // at the edge: only the second is long
    ],
    max_tokens: 10,
  }
  const bytes = Buffer.from(JSON.stringify(body))

  it('shows what parseJson shows the joined body, however the bytes were cut', async () => {
    const expected = await joinedView(bytes)
    const contents = (expected as { messages: Array<{ content: unknown }> }).messages.map((message) => message.content)
    expect(contents[1]).toMatch(/^<long string of \d+ bytes>$/)
    expect(contents[5]).toEqual([
      { type: 'text', text: 'y'.repeat(LONG) },
      { type: 'text', text: `<long string of ${LONG + 1} bytes>` },
    ])
    expect(contents[2]).toEqual([
      { type: 'image_url', image_url: { url: `<long string of ${'data:image/png;base64,'.length + 120} bytes>` } },
    ])
    expect(await chunkedView([bytes])).toEqual(expected)
    for (let at = 1; at < bytes.length; at++) expect(await chunkedView(cutAt(bytes, [at]))).toEqual(expected)
    const { random } = seededRandom(20261205)
    for (let round = 0; round < 200; round++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 40) }, () => 1 + Math.floor(random() * (bytes.length - 1)))
      expect(await chunkedView(cutAt(bytes, cuts))).toEqual(expected)
    }
    expect(
      await chunkedView(
        cutAt(
          bytes,
          Array.from({ length: bytes.length }, (_, i) => i),
        ),
      ),
    ).toEqual(expected) // a byte a chunk
  })

  it('finds where a string ends across cuts in a run of backslashes, escaped quotes included', async () => {
    for (const run of [1, 2, 3, 4, 5]) {
      const raw = Buffer.from(`{"t":"${'x'.repeat(LONG)}${'\\\\'.repeat(run)}\\"${'y'.repeat(LONG)}","u":"v"}`)
      const expected = await joinedView(raw)
      expect(expected).toEqual({ t: `<long string of ${LONG * 2 + 2 * run + 2} bytes>`, u: 'v' })
      for (let at = LONG + 6; at < LONG + 10 + 2 * run; at++) expect(await chunkedView(cutAt(raw, [at, at + 1]))).toEqual(expected)
    }
  })

  it('shows nothing when the value would not be the whole story: too much JSON outside, too deep, or not JSON', async () => {
    const manySmall = Buffer.from(JSON.stringify({ messages: Array.from({ length: 400 }, () => ({ role: 'user', content: 'hello' })) }))
    expect(await chunkedView(cutAt(manySmall, [100]))).toBeUndefined()
    expect(await chunkedView(cutAt(manySmall, [100]), { ...limits, maxOutsideBytes: manySmall.length })).toBeDefined()
    const deep = Buffer.from(`{"t":"${'x'.repeat(LONG + 1)}","d":${'['.repeat(17)}${']'.repeat(17)}}`)
    expect(await chunkedView(cutAt(deep, [10]))).toBeUndefined()
    expect(await chunkedView(cutAt(deep, [10]), { ...limits, maxDepth: 18 })).toBeDefined()
    for (const broken of [`{"t":"${'x'.repeat(LONG + 1)}"`, `{"t":"${'x'.repeat(LONG + 1)}`, `{"t":"${'x'.repeat(LONG + 1)}",}`]) {
      expect(await chunkedView(cutAt(Buffer.from(broken), [7]))).toBeUndefined()
    }
  })

  it('gives the event loop back every megabyte searched, in the middle of a long string too', async () => {
    const long = Buffer.from(JSON.stringify({ t: 'x'.repeat(3 * 1024 * 1024) }))
    const chunks = Array.from({ length: Math.ceil(long.length / 65_536) }, (_, i) => long.subarray(i * 65_536, (i + 1) * 65_536))
    const [around, turns] = await turnsWhile(() => aroundLongStrings(chunks, limits))
    expect(around?.value).toEqual({ t: expect.any(String) })
    expect(turns).toBeGreaterThanOrEqual(2)
  })

  it('hands the value to the check, and its refusal on', async () => {
    const chunks = cutAt(bytes, [50, 200])
    const seen: unknown[] = []
    await checkBeforeJoin(chunks, limits, (value, longStringBytes) => void seen.push(spelled(value, longStringBytes)))
    expect(seen).toEqual([await joinedView(bytes)])
    const refusal = new Error('cannot fit')
    await expect(
      checkBeforeJoin(chunks, limits, () => {
        throw refusal
      }),
    ).rejects.toBe(refusal)
    await expect(
      checkBeforeJoin(cutAt(Buffer.from('{"t":"'), [2]), limits, () => {
        throw refusal
      }),
    ).resolves.toBeUndefined() // no value to show: no check
  })
})
