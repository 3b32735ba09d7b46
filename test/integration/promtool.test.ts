import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics/metrics.js'
import { FakeUpstream } from '../helpers/fake-upstream.js'
import { buildTestApp, chatRequest, testConfig, userText } from '../helpers/test-app.js'

/**
 * prom-client's default Node metrics name three gauges `*_total`, which promtool's linter dislikes;
 * they are prom-client's names, not ours, and renaming them would break every Node dashboard.
 */
const PROM_CLIENT_DEFAULTS = /^llava_gateway_nodejs_active_(handles|requests|resources)_total /

describe('promtool, the Prometheus project’s own checker', () => {
  it('parses /metrics and finds nothing to lint in the gateway’s own metrics', async () => {
    const upstream = await FakeUpstream.start()
    try {
      const { app } = buildTestApp(testConfig(upstream.baseUrl), { metrics: createMetrics() })
      await app.request('/v1/chat/completions', chatRequest(userText('hi')))
      const text = await (await app.request('/metrics')).text()
      const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
      expect(result.error, 'promtool must be installed (Debian package "prometheus"; .ci/run installs it)').toBeUndefined()
      const problems = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '')
      expect(problems.filter((line) => !PROM_CLIENT_DEFAULTS.test(line))).toEqual([])
      expect([0, 3]).toContain(result.status) // 3: lint findings only (the defaults above); 1 would be a parse error
    } finally {
      await upstream.close()
    }
  })
})
