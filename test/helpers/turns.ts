/**
 * What `work` resolves to, and how many turns of the event loop ran while it worked: other requests'
 * work would run in them. Work that only awaits promises (microtasks) lets none run.
 */
export async function turnsWhile<T>(work: () => T | Promise<T>): Promise<[T, number]> {
  let turns = 0
  let running = true
  const tick = () => {
    turns++
    if (running) setImmediate(tick)
  }
  setImmediate(tick)
  const value = await work()
  running = false
  return [value, turns]
}
