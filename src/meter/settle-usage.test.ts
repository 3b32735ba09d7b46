import { describe, expect, it } from 'vitest'
import { COMPLETION_TEXT } from './completion-tokens.js'
import { settledAsReported, settleUsage } from './settle-usage.js'

const PROMPT = { total: 600, imageTokens: 576 }
const REPORTED = { prompt_tokens: 601, completion_tokens: 7, total_tokens: 608 }

/** A counter that answers `tokens` and keeps what it was asked to count. */
function counter(tokens: number) {
  const asked: Array<[string, unknown]> = []
  return {
    asked,
    count: (text: string, opts?: unknown) => {
      asked.push([text, opts])
      return Promise.resolve(tokens)
    },
  }
}

describe('settledAsReported', () => {
  it("takes the backend's usage, with the source given and the prompt's image tokens", () => {
    expect(settledAsReported(PROMPT, REPORTED)).toEqual({ usage: REPORTED, source: 'upstream', imageTokens: 576 })
    expect(settledAsReported(PROMPT, REPORTED, 'gateway')?.source).toBe('gateway')
  })

  it('has nothing to settle from a missing or unusable usage', () => {
    expect(settledAsReported(PROMPT, undefined)).toBeUndefined()
    expect(settledAsReported(PROMPT, { prompt_tokens: 3 })).toBeUndefined()
  })
})

describe('settleUsage', () => {
  it("settles on the backend's usage without counting anything", async () => {
    const tokens = counter(99)
    expect(await settleUsage(PROMPT, REPORTED, () => 'never read', tokens)).toEqual(settledAsReported(PROMPT, REPORTED))
    expect(tokens.asked).toEqual([])
  })

  it('counts the completion text when the backend reported no usage, and says the gateway counted', async () => {
    const tokens = counter(5)
    expect(await settleUsage(PROMPT, null, () => 'five tokens of text', tokens)).toEqual({
      usage: {
        prompt_tokens: 600,
        completion_tokens: 5,
        total_tokens: 605,
        prompt_tokens_details: { image_tokens: 576 },
      },
      source: 'gateway',
      imageTokens: 576,
    })
    expect(tokens.asked).toEqual([['five tokens of text', COMPLETION_TEXT]])
  })
})
