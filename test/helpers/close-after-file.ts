import { errorCode } from '../../src/lib/network-errors.js'

/** Anything a test opens that holds sockets, timers or memory past the test: pools, stores, apps. */
export type Closable = { close(): Promise<unknown> }

const open = new Set<Closable>()

/**
 * Registers `thing` to be closed once the test file is over (test/helpers/close-test-apps.ts runs
 * `closeTestApps` after every file), and gives it back. A test may close it sooner itself.
 */
export function closeAfterFile<T extends Closable>(thing: T): T {
  open.add(thing)
  return thing
}

/** Closes everything registered so far, all at once, and forgets it. */
export async function closeTestApps(): Promise<void> {
  const all = [...open]
  open.clear()
  await closeAll(all)
}

/**
 * Closes each part, tolerating parts a test closed itself already: undici destroys a pool once its
 * close completes, and a second close() then rejects with UND_ERR_DESTROYED. Anything else throws.
 */
export async function closeAll(parts: readonly Closable[]): Promise<void> {
  await Promise.all(
    parts.map(async (part) => {
      try {
        await part.close()
      } catch (err) {
        if (errorCode(err) !== 'UND_ERR_DESTROYED') throw err
      }
    }),
  )
}
