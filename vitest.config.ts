import { defineConfig } from 'vitest/config'

/** Both projects close every test app's pools and store after each test file. */
const CLOSE_TEST_APPS = 'test/helpers/close-test-apps.ts'

// Two projects: `unit` needs nothing but Node; `integration` talks to a real redis-server
// (REDIS_URL from .ci/run, or one the global setup starts on a free loopback port) and real
// loopback HTTP servers. Without any redis-server they fail, never skip.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/app/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          setupFiles: [CLOSE_TEST_APPS],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/redis-global-setup.ts'],
          setupFiles: [CLOSE_TEST_APPS],
          testTimeout: 20_000,
        },
      },
    ],
  },
})
