import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** V8's full collection, asked for by name: memory a test says is retained is only measurable after one. */
export function fullGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

/**
 * Heap bytes still held after `keep` was given a 24-character slice of each of 40 distinct 1 MiB
 * strings: about 40 MiB if what it keeps holds on to the strings the slices were cut from.
 */
export function retainedBySlices(keep: (slice: string) => unknown): number {
  const gc = fullGc()
  const kept: unknown[] = []
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 40; i++) {
    const big = `${i}:`.padEnd(1 << 20, String.fromCharCode(97 + (i % 26))) // flat, distinct
    kept.push(keep(big.slice(0, 24)))
  }
  gc()
  const retained = process.memoryUsage().heapUsed - before
  // Read after the collection, so what `keep` returned stays reachable until it has been measured.
  if (kept.length !== 40) throw new Error('unreachable')
  return retained
}
