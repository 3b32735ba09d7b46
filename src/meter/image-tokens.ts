// How many prompt tokens one image costs, per model family. Pure arithmetic on the image's
// pixel size; the numbers are estimates for budgeting, upstream `usage` wins when present.

export type ImageTokenPolicy =
  | { policy: 'fixed'; tokensPerImage: number }
  | { policy: 'llava-next'; gridPinpoints?: ReadonlyArray<readonly [number, number]> | undefined }
  | { policy: 'openai-tiles' }

export type ImageDetail = 'auto' | 'low' | 'high'

export type ImageSize = { width: number; height: number }

export function imageTokens(policy: ImageTokenPolicy, image: ImageSize, detail?: ImageDetail): number {
  assertPositiveInt('width', image.width)
  assertPositiveInt('height', image.height)
  switch (policy.policy) {
    case 'fixed':
      return fixedTokens(policy.tokensPerImage)
    case 'llava-next':
      return llavaNextTokens(image, policy.gridPinpoints ?? LLAVA_NEXT_PINPOINTS)
    case 'openai-tiles':
      return openAiTileTokens(image, detail)
  }
}

function assertPositiveInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`image ${name} must be a positive integer, got ${String(value)}`)
  }
}

// LLaVA-1.5 (and any CLIP-336 model that center-crops) emits the same 24×24 = 576 features
// whatever the input size, so the size is validated but otherwise ignored.
function fixedTokens(tokensPerImage: number): number {
  if (!Number.isSafeInteger(tokensPerImage) || tokensPerImage < 0) {
    throw new RangeError(`tokensPerImage must be a non-negative integer, got ${String(tokensPerImage)}`)
  }
  return tokensPerImage
}

// ---- LLaVA-NeXT / LLaVA-1.6 "anyres" (transformers processing_llava_next.py) -------------------

/** llava-v1.6-*-hf `image_grid_pinpoints`, each as (height, width) like the config writes them. */
export const LLAVA_NEXT_PINPOINTS: ReadonlyArray<readonly [number, number]> = [
  [336, 672],
  [672, 336],
  [672, 672],
  [1008, 336],
  [336, 1008],
]

const TILE = 336
const PATCH = 14
const PATCHES_PER_SIDE = TILE / PATCH // 24
// patches² + 1 CLS, minus the CLS the "default" feature-select strategy drops = 576.
const BASE_FEATURES = PATCHES_PER_SIDE * PATCHES_PER_SIDE

function llavaNextTokens(image: ImageSize, pinpoints: ReadonlyArray<readonly [number, number]>): number {
  const [bestH, bestW] = selectBestResolution(image, pinpoints)
  // Python `//` on positive ints: how many 336 tiles the chosen canvas holds per side.
  const rows = PATCHES_PER_SIDE * Math.floor(bestH / TILE)
  const cols = PATCHES_PER_SIDE * Math.floor(bestW / TILE)
  const { height, width } = unpaddedGrid(image, rows, cols)
  // One image_newline token ends every row of the unpadded grid.
  return height * width + height + BASE_FEATURES
}

/**
 * transformers `select_best_resolution`: the canvas that keeps the most of the original pixels
 * after a fit-inside downscale; ties go to the least wasted canvas area, then to the first listed.
 */
export function selectBestResolution(image: ImageSize, pinpoints: ReadonlyArray<readonly [number, number]>): readonly [number, number] {
  let best: readonly [number, number] | undefined
  let maxEffective = 0
  let minWasted = Number.POSITIVE_INFINITY
  for (const pinpoint of pinpoints) {
    const [h, w] = pinpoint
    assertPositiveInt('grid pinpoint', h)
    assertPositiveInt('grid pinpoint', w)
    const scale = Math.min(w / image.width, h / image.height)
    // Python int() truncates toward zero; the values are positive so trunc == floor.
    const downscaled = Math.trunc(image.width * scale) * Math.trunc(image.height * scale)
    const effective = Math.min(downscaled, image.width * image.height)
    const wasted = h * w - effective
    if (effective > maxEffective || (effective === maxEffective && wasted < minWasted)) {
      best = pinpoint
      maxEffective = effective
      minWasted = wasted
    }
  }
  if (best === undefined) throw new RangeError('gridPinpoints must not be empty')
  return best
}

/**
 * transformers `_get_unpadded_features`: the image is letterboxed onto the canvas, and the
 * padding rows (or columns) are cut away again before the features reach the LM.
 */
function unpaddedGrid(image: ImageSize, rows: number, cols: number): { height: number; width: number } {
  if (image.width / image.height > cols / rows) {
    const newRows = Math.trunc(pyRound7(image.height * (cols / image.width)))
    return { height: rows - 2 * Math.floor((rows - newRows) / 2), width: cols }
  }
  const newCols = Math.trunc(pyRound7(image.width * (rows / image.height)))
  return { height: rows, width: cols - 2 * Math.floor((cols - newCols) / 2) }
}

// Python `round(x, 7)`, which newer transformers uses so that e.g. 23.999999999 counts as 24.
// toFixed rounds the exact binary value like Python does; they differ only on exact decimal
// ties, which cannot sit within 5e-8 of an integer, so the int() taken afterwards agrees.
function pyRound7(x: number): number {
  return Number(x.toFixed(7))
}

// ---- OpenAI tile models (gpt-4o, gpt-4.1, …), platform.openai.com/docs/guides/vision --------

const OPENAI_BASE = 85
const OPENAI_PER_TILE = 170
const OPENAI_MAX_SIDE = 2048
const OPENAI_SHORT_SIDE = 768
const OPENAI_TILE = 512

// 'auto' is priced as 'high': the model may choose high, and a budget estimate must not undershoot.
function openAiTileTokens(image: ImageSize, detail: ImageDetail | undefined): number {
  if (detail === 'low') return OPENAI_BASE
  const fitted = scaleDown(image, Math.max(image.width, image.height), OPENAI_MAX_SIDE)
  const scaled = scaleDown(fitted, Math.min(fitted.width, fitted.height), OPENAI_SHORT_SIDE)
  const tiles = Math.ceil(scaled.width / OPENAI_TILE) * Math.ceil(scaled.height / OPENAI_TILE)
  return OPENAI_BASE + OPENAI_PER_TILE * tiles
}

// Only ever shrinks: OpenAI's two resize steps are "fit within" and "shortest side = 768" and
// its documented examples never upscale (a 512×512 image is one tile, 255 tokens). Pixel sizes
// are whole numbers, so a fractional result is floored. Multiplying before dividing keeps the
// side being matched exact (3000 * 2048 / 3000 is 2048, 3000 * (2048 / 3000) is not).
function scaleDown(image: ImageSize, side: number, target: number): ImageSize {
  if (side <= target) return image
  return {
    width: Math.max(1, Math.floor((image.width * target) / side)),
    height: Math.max(1, Math.floor((image.height * target) / side)),
  }
}
