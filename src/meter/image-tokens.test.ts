import { describe, it, expect } from 'vitest'
import { imageTokens, selectBestResolution, LLAVA_NEXT_PINPOINTS, type ImageTokenPolicy } from './image-tokens.js'

const size = (width: number, height: number) => ({ width, height })

describe('imageTokens: fixed', () => {
  const llava15: ImageTokenPolicy = { policy: 'fixed', tokensPerImage: 576 }

  it('returns tokensPerImage whatever the size or detail', () => {
    expect(imageTokens(llava15, size(1, 1))).toBe(576)
    expect(imageTokens(llava15, size(336, 336))).toBe(576)
    expect(imageTokens(llava15, size(8000, 300), 'low')).toBe(576)
    expect(imageTokens(llava15, size(4000, 3000), 'high')).toBe(576)
    expect(imageTokens({ policy: 'fixed', tokensPerImage: 0 }, size(10, 10))).toBe(0)
  })

  it('rejects a tokensPerImage that is not a non-negative integer', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => imageTokens({ policy: 'fixed', tokensPerImage: bad }, size(10, 10))).toThrow(RangeError)
    }
  })
})

describe('imageTokens: llava-next (anyres)', () => {
  const next: ImageTokenPolicy = { policy: 'llava-next' }

  // protocol-notes §3.2 worked-examples table, input W×H → total.
  it.each([
    [336, 336, 1176],
    [500, 500, 2928],
    [672, 672, 2928],
    [1024, 1024, 2928],
    [640, 480, 2340],
    [800, 600, 2340],
    [1024, 768, 2340],
    [4000, 3000, 2340],
    [1280, 720, 1948],
    [1920, 1080, 1948],
    [1080, 1920, 1968],
    [1000, 300, 2182],
  ])('%i×%i → %i', (width, height, total) => {
    expect(imageTokens(next, size(width, height))).toBe(total)
  })

  // Hand derivations of the table's harder rows (pinpoints are (h,w); grid = 24 × canvas/336):
  // 336×336: every canvas keeps all 112896 px; waste 336×672 = 672×336 = 112896 < the rest, first
  //   wins → grid 24×48; W/H 1 ≤ 2 → new_w = int(round(336·24/336, 7)) = 24, pad (48-24)//2 = 12,
  //   cols 24 → 24·24 + 24 rows + 576 = 1176.
  // 640×480: 336×672 s=min(1.05, .7)=.7 → 448·336 = 150528; 672×672 s=1.05 → 672·504 capped at
  //   307200 → 672×672 wins; grid 48×48; W/H 1.33 > 1 → new_h = int(480·48/640) = 36, pad 6,
  //   rows 36 → 36·48 + 36 + 576 = 2340.
  // 1280×720: 672×672 s=.525 → 672·378 = 254016 beats 336×672/336×1008 (s=.467 → 597·336 = 200592);
  //   grid 48×48; new_h = int(720·48/1280) = 27, pad (48-27)//2 = 10, rows 28 → 28·48 + 28 + 576 = 1948.
  // 1080×1920: 672×672 s=.35 → 378·672 = 254016 beats 1008×336 (s=.311 → 336·597); grid 48×48;
  //   W/H .5625 ≤ 1 → new_w = 27, pad 10, cols 28 → 48·28 + 48 rows + 576 = 1968.
  // 1000×300: 336×1008 s=min(1.008, 1.12) → 1008·302 capped at 300000 beats 672×672 (s=.672 →
  //   672·201 = 135072); grid 24×72; W/H 3.33 > 3 → new_h = int(300·72/1000) = 21, pad 1,
  //   rows 22 → 22·72 + 22 + 576 = 2182.
  it('picks the canvases the hand derivations above name', () => {
    expect(selectBestResolution(size(336, 336), LLAVA_NEXT_PINPOINTS)).toEqual([336, 672])
    expect(selectBestResolution(size(640, 480), LLAVA_NEXT_PINPOINTS)).toEqual([672, 672])
    expect(selectBestResolution(size(1080, 1920), LLAVA_NEXT_PINPOINTS)).toEqual([672, 672])
    expect(selectBestResolution(size(1000, 300), LLAVA_NEXT_PINPOINTS)).toEqual([336, 1008])
    expect(selectBestResolution(size(300, 1000), LLAVA_NEXT_PINPOINTS)).toEqual([1008, 336])
  })

  it('stays between the 576 base tokens and 5×576 + 48 newline tokens = 2928', () => {
    for (const [w, h] of [
      [1, 1],
      [1, 5000],
      [5000, 1],
      [2000, 2000],
      [1344, 672],
      [37, 4001],
    ] as const) {
      const tokens = imageTokens(next, size(w, h))
      expect(tokens).toBeGreaterThanOrEqual(576)
      expect(tokens).toBeLessThanOrEqual(2928)
    }
  })

  // Degenerate aspect ratios, as the formula has them: 5000×1 downscales to 0 px rows on every
  // canvas, so all keep 0 px and the least-waste 336×672 wins (grid 24×48); W/H > 2 → new_h =
  // int(48/5000) = 0, pad 12, rows 0 → only the 576 base features. 1×5000: same canvas;
  // new_w = int(24/5000) = 0, pad 24, cols 0 → 0 features but still 24 newline tokens → 600.
  it("keeps the formula's numbers for extreme aspect ratios", () => {
    expect(imageTokens(next, size(5000, 1))).toBe(576)
    expect(imageTokens(next, size(1, 5000))).toBe(600)
  })

  // 55×88: all canvases hold the 4840 px, least waste is 336×672 → grid 24 rows × 48 cols;
  // W/H .625 ≤ 2 → new_w = 55·(24/88) = 14.999999999999998 in doubles. round(·, 7) makes it 15:
  // pad (48-15)//2 = 16, cols 16 → 24·16 + 24 + 576 = 984. A bare int() would give 14 → 14 cols → 936.
  it('uses the round(x, 7) variant of the unpadding step', () => {
    expect(imageTokens(next, size(55, 88))).toBe(984)
  })

  // Custom (h,w) pinpoints: 336×336 only → grid 24×24; 1000×300: new_h = int(300·24/1000) = 7,
  // pad (24-7)//2 = 8, rows 8 → 8·24 + 8 + 576 = 776.
  it('honours custom gridPinpoints given as (height, width)', () => {
    const single: ImageTokenPolicy = { policy: 'llava-next', gridPinpoints: [[336, 336]] }
    expect(imageTokens(single, size(1000, 300))).toBe(776)
    expect(imageTokens(single, size(336, 336))).toBe(24 * 24 + 24 + 576)
    // Tall-only canvas for a wide image: 672×336 → grid 48×24; W/H 2 > .5 → new_h = int(300·24/600)
    // = 12, pad (48-12)//2 = 18, rows 12 → 12·24 + 12 + 576 = 876.
    expect(imageTokens({ policy: 'llava-next', gridPinpoints: [[672, 336]] }, size(600, 300))).toBe(876)
  })

  it('rejects empty or non-integer pinpoints', () => {
    expect(() => imageTokens({ policy: 'llava-next', gridPinpoints: [] }, size(10, 10))).toThrow(RangeError)
    expect(() => imageTokens({ policy: 'llava-next', gridPinpoints: [[0, 336]] }, size(10, 10))).toThrow(RangeError)
  })
})

describe('imageTokens: openai-tiles', () => {
  const openai: ImageTokenPolicy = { policy: 'openai-tiles' }

  it.each([
    // 1024² → shortest side 768 → 768×768 → 2×2 tiles → 85 + 680
    [1024, 1024, 765],
    // fit 2048: 1024×2048 → shortest 768: 768×1536 → 2×3 tiles → 85 + 1020
    [2048, 4096, 1105],
    // 1920×1080 → 1365×768 → 3×2 tiles
    [1920, 1080, 1105],
    // already under 768: kept, one tile
    [512, 512, 255],
    // by hand: fit 2048: 2048×682 (1000·2048/3000 = 682.67, floored); 682 < 768 so no second step
    // → 4×2 tiles → 85 + 1360
    [3000, 1000, 1445],
    // by hand: 1536×1024 → shortest 768: 1152×768 → 3×2 tiles → 85 + 1020
    [1536, 1024, 1105],
    // by hand: 800×600 is not upscaled → 2×2 tiles → 85 + 680
    [800, 600, 765],
    // by hand: fit 2048: 40×2048 (100·2048/5000 = 40.96) → 1×4 tiles → 85 + 680
    [100, 5000, 765],
  ])('%i×%i high → %i', (width, height, total) => {
    expect(imageTokens(openai, size(width, height), 'high')).toBe(total)
  })

  it('charges a flat 85 for detail low at any size', () => {
    for (const [w, h] of [
      [1, 1],
      [512, 512],
      [4096, 8192],
      [10_000, 3],
    ] as const) {
      expect(imageTokens(openai, size(w, h), 'low')).toBe(85)
    }
  })

  it('prices auto and a missing detail as high', () => {
    expect(imageTokens(openai, size(1024, 1024), 'auto')).toBe(765)
    expect(imageTokens(openai, size(1024, 1024))).toBe(765)
  })

  it('never upscales a small image (300×300 would be 765 if scaled to 768)', () => {
    expect(imageTokens(openai, size(300, 300), 'high')).toBe(255)
  })
})

describe('imageTokens: size validation', () => {
  const policies: ImageTokenPolicy[] = [{ policy: 'fixed', tokensPerImage: 576 }, { policy: 'llava-next' }, { policy: 'openai-tiles' }]

  it('names the side and the value in the error', () => {
    expect(() => imageTokens({ policy: 'fixed', tokensPerImage: 576 }, size(0, 10))).toThrow(
      new RangeError('image width must be a positive integer, got 0'),
    )
    expect(() => imageTokens({ policy: 'llava-next' }, size(10, 1.5))).toThrow(
      new RangeError('image height must be a positive integer, got 1.5'),
    )
    expect(() => imageTokens({ policy: 'fixed', tokensPerImage: -1 }, size(10, 10))).toThrow(
      new RangeError('tokensPerImage must be a non-negative integer, got -1'),
    )
    for (const pinpoint of [
      [336, 0],
      [0, 336],
    ] as const) {
      expect(() => imageTokens({ policy: 'llava-next', gridPinpoints: [pinpoint] }, size(10, 10))).toThrow(
        new RangeError('image grid pinpoint must be a positive integer, got 0'),
      )
    }
    expect(() => imageTokens({ policy: 'llava-next', gridPinpoints: [] }, size(10, 10))).toThrow(
      new RangeError('gridPinpoints must not be empty'),
    )
  })

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('throws RangeError for a side of %s', (bad) => {
    for (const policy of policies) {
      expect(() => imageTokens(policy, size(bad, 10))).toThrow(RangeError)
      expect(() => imageTokens(policy, size(10, bad), 'low')).toThrow(RangeError)
    }
  })
})
