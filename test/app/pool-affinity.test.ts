import { describe, expect, it } from 'vitest'
import { png, type Rgb } from '../fixtures/images.js'
import type { UpstreamCall } from '../helpers/fake-upstream.js'
import { chatCompletion, replyJson } from '../helpers/fake-upstream.js'
import { inParallel, seededRandom, startFleet } from '../helpers/replica-fleet.js'
import { MODEL } from '../helpers/test-app.js'

// `routing: affinity`: the same image keeps reaching the same replica (where vLLM has its encoder
// output and prefix cached), unless that replica is busier than (1 + epsilon) x the pool average.

const IMAGES = 100
const SENDS = 10

/** Image `i`'s bytes: a distinct colour, so a distinct SHA-256. */
const picture = (i: number) => {
  const colour: Rgb = [i % 256, Math.floor(i / 256), 7]
  return `data:image/png;base64,${png(8, 8, colour).toString('base64')}`
}
const askAbout = (i: number) => ({
  model: MODEL,
  messages: [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: picture(i) } },
        { type: 'text', text: `image ${i}: what is in it?` },
      ],
    },
  ],
})
/** Which image a replica was asked about, from the request's text. */
const imageOf = (call: UpstreamCall) => {
  const text = JSON.stringify(call.body['messages'])
  return Number(/image (\d+):/.exec(text)?.[1])
}

/** Fisher-Yates with a seeded source: a random order, the same every run. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

describe('image affinity', () => {
  it('sends each of 100 images, asked about 10 times each in random order, to one replica', async () => {
    const { ask, replicas } = await startFleet({ routing: 'affinity' })
    const order = shuffled(
      Array.from({ length: IMAGES * SENDS }, (_, i) => i % IMAGES),
      seededRandom(7),
    )
    // Four at a time over three replicas: a pool at balanced load, not a skewed one.
    const statuses = await inParallel(order.length, 4, async (i) => (await ask(askAbout(order[i] ?? 0))).status)
    expect(statuses.every((s) => s === 200)).toBe(true)

    // For each image: how many of its requests each replica got.
    const perImage = Array.from({ length: IMAGES }, () => replicas.map(() => 0))
    replicas.forEach((replica, r) => {
      for (const call of replica.calls) {
        const counts = perImage[imageOf(call)] as number[]
        counts[r] = (counts[r] ?? 0) + 1
      }
    })
    const atHome = perImage.map((counts) => Math.max(...counts) / SENDS)
    const overall = perImage.reduce((sum, counts) => sum + Math.max(...counts), 0) / (IMAGES * SENDS)
    const loads = replicas.map((replica) => replica.calls.length)
    console.info(
      `[pool-affinity] requests at their image's replica: ${(100 * overall).toFixed(1)}% overall, ` +
        `worst image ${(100 * Math.min(...atHome)).toFixed(0)}%, images all at one replica: ${atHome.filter((s) => s === 1).length}/${IMAGES}; loads ${loads.join(' ')}`,
    )
    for (const share of atHome) expect(share).toBeGreaterThanOrEqual(0.95)
    // And the images are spread: rendezvous hashing gives every replica a part of them.
    for (const load of loads) expect(load).toBeGreaterThan(IMAGES * SENDS * 0.15)
  }, 60_000)

  /** 30 requests about one image at once, every replica holding its answers until all have arrived: how many each got. */
  async function hotImage(backend: Record<string, unknown>): Promise<number[]> {
    const { ask, replicas } = await startFleet({ routing: 'affinity', ...backend })
    const holds = replicas.map((replica) => replica.holdAnswers((res) => replyJson(res, 200, chatCompletion())))
    const sent = Array.from({ length: 30 }, () => ask(askAbout(1)))
    const arrivedSoFar = () => replicas.reduce((n, replica) => n + replica.calls.length, 0)
    while (arrivedSoFar() < 30) await Promise.race(replicas.map((replica) => replica.untilCalls(replica.calls.length + 1)))
    const loads = replicas.map((replica) => replica.calls.length)
    for (const hold of holds) hold.release()
    expect((await Promise.all(sent)).every((res) => res.status === 200)).toBe(true)
    return loads
  }

  it('spills a hot image to the next replica in its order once its own is past (1 + epsilon) x the average', async () => {
    const loads = await hotImage({ affinityEpsilon: 0.25, affinitySlack: 2 })
    console.info(`[pool-affinity] one hot image, 30 requests at once: ${loads.join(' ')}`)
    const [home = 0, next = 0, last = 0] = [...loads].sort((a, b) => b - a)
    // Its own replica is held to ceil((1 + 0.25) x the average in flight) plus the slack of 2.
    expect(home).toBeLessThanOrEqual(Math.ceil(1.25 * (30 / 3)) + 2)
    // The spill goes to the image's next replica, one and the same, not all over the pool.
    expect(next).toBe(30 - home)
    expect(last).toBe(0)
  })

  it('keeps a hot image on its replica when the bound is loose enough', async () => {
    const loads = await hotImage({ affinityEpsilon: 10, affinitySlack: 0 })
    expect([...loads].sort((a, b) => b - a)).toEqual([30, 0, 0])
  })
})
