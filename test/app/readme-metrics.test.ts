import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics/metrics.js'

// README's metric table is held to the live registry: names, types and label sets.

type Row = { name: string; type: string; labels: string[] }

function readmeRows(): Row[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1))
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `llava_gateway_'))
    .map((line) => {
      const [name = '', type = '', labels = ''] = line
        .split('|')
        .slice(1)
        .map((cell) => cell.trim())
      return {
        name: name.replaceAll('`', ''),
        type,
        labels: labels === '' ? [] : labels.split(',').map((l) => l.trim().replaceAll('`', '')),
      }
    })
}

async function registryRows(): Promise<Row[]> {
  // With a Redis store, so redis_up is registered too.
  const metrics = createMetrics({ defaultMetrics: false, redisPing: async () => true })
  return (await metrics.registry.getMetricsAsJSON()).map((metric) => ({
    name: metric.name,
    type: String(metric.type),
    labels: [...((metrics.registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [])],
  }))
}

describe("README's metric table", () => {
  it('lists exactly the metrics /metrics exports, with their types and label sets', async () => {
    const byName = (rows: Row[]) => Object.fromEntries(rows.map((row) => [row.name, { type: row.type, labels: [...row.labels].sort() }]))
    const documented = readmeRows()
    expect(documented.length).toBeGreaterThan(15)
    expect(byName(documented)).toEqual(byName(await registryRows()))
  })
})
