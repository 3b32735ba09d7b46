import { defineConfig } from 'vitest/config'

// Two projects: `unit` needs nothing but Node; `integration` talks to a real redis-server
// (REDIS_URL, started by .ci/run) and real loopback HTTP servers. Integration tests fail,
// never skip, when REDIS_URL is missing.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts', 'test/app/**/*.test.ts'] } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 20_000 } },
    ],
  },
})
