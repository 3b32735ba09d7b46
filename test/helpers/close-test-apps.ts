import { afterAll } from 'vitest'
import { closeTestApps } from './close-after-file.js'

// A setup file of both projects (vitest.config.ts): after each test file, close every app's pools
// and store. Registered ahead of the file's own hooks, so with vitest's `stack` order it runs after
// them: the file's fake backends are gone by then, and no pool waits on a request left hanging.
afterAll(closeTestApps)
