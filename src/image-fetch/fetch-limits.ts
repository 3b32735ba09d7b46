/**
 * The limits the image downloader works under, as `images.fetch` in the config spells them. Declared
 * here rather than imported from the config schema, so this folder depends on nothing above it (the
 * schema imports the address policy to validate `allowNetworks`).
 */
export type FetchLimits = Readonly<{
  allowedPorts: readonly number[]
  maxRedirects: number
  connectTimeoutMs: number
  headersTimeoutMs: number
  totalTimeoutMs: number
  allowHosts: readonly string[]
  allowNetworks: readonly string[]
  denyHosts: readonly string[]
  concurrencyPerRequest: number
  maxConcurrent: number
}>

/** What the downloader needs beyond `images.fetch`: the per-image byte cap and how long to wait for a download slot. */
export type ImageFetcherLimits = Readonly<{ fetch: FetchLimits; maxBytesPerImage: number; inFlightWaitMs: number }>
