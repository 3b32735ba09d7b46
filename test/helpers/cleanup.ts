import { afterAll, onTestFinished } from 'vitest'

/**
 * Stops what a helper started, even when the test failed: at the end of the test that started it
 * (from the test body or a beforeEach), or, when started outside a test (beforeAll, top level), at
 * the end of the test file. Helpers call this themselves, so a test cannot forget it.
 */
export function stopWhenDone(stop: () => Promise<void>): void {
  try {
    onTestFinished(stop)
  } catch {
    // Not inside a test: vitest throws "can only be called inside a test".
    fileLevel.add(stop)
  }
}

const fileLevel = new Set<() => Promise<void>>()

// Registered when a test file first imports a helper (imports run while vitest collects the
// file, so this hook belongs to that file). Each test file gets its own copy of this module.
afterAll(async () => {
  const stops = [...fileLevel]
  fileLevel.clear()
  const results = await Promise.allSettled(stops.map((stop) => stop()))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
})
