import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

// docker-compose.yml is for people (no Docker engine here); its safety is checked by reading it.

type Service = {
  ports?: string[]
  environment?: Record<string, string>
  command?: string[]
  entrypoint?: string[]
  profiles?: string[]
  deploy?: { resources?: { reservations?: { devices?: Array<{ device_ids?: string[] }> } } }
}
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }
const gatewayYaml = read('config/gateway.yaml')
const gateway = compose.services['gateway'] as Service

describe('docker-compose.yml, safe by default', () => {
  it('publishes every port on 127.0.0.1 only', () => {
    const published = Object.entries(compose.services).flatMap(([name, service]) => (service.ports ?? []).map((port) => [name, port]))
    expect(published.length).toBeGreaterThan(0)
    for (const [name, port] of published) expect(`${name} ${port}`).toMatch(/ 127\.0\.0\.1:\d+:\d+$/)
  })

  it('requires a metrics token, serves /metrics on an unpublished port, and hands Prometheus the same token', () => {
    expect(gateway.environment?.['METRICS_TOKEN']).toMatch(/^\$\{METRICS_TOKEN:\?/)
    expect(gateway.environment?.['METRICS_PORT']).toBe('9464')
    expect(gateway.ports?.some((port) => port.endsWith(':9464'))).toBe(false)
    expect(compose.services['prometheus']?.environment?.['METRICS_TOKEN']).toMatch(/^\$\{METRICS_TOKEN:\?/)
    const prometheus = read('config/prometheus.yml')
    expect(prometheus).toContain("targets: ['gateway:9464']")
    expect(prometheus).toContain('credentials: __METRICS_TOKEN__')
    expect(compose.services['prometheus']?.entrypoint?.join(' ')).toContain('__METRICS_TOKEN__')
  })

  it('gives Grafana no default password and no anonymous access', () => {
    const grafana = compose.services['grafana']?.environment ?? {}
    expect(grafana['GF_SECURITY_ADMIN_PASSWORD']).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/)
    expect(grafana['GF_AUTH_ANONYMOUS_ENABLED']).toBe('false')
  })

  it('passes every ${VAR} the gateway config names through to the gateway', () => {
    const named = [...new Set([...gatewayYaml.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1] as string))].filter((v) => v !== 'VAR')
    expect(named.length).toBeGreaterThan(8)
    expect(named.filter((name) => !(name in (gateway.environment ?? {})))).toEqual([])
  })

  it('limits vLLM to the images the gateway allows, in LLaVA-1.5’s 4,096-token context', () => {
    const maxImages = Number(/^\s+maxImagesPerRequest: (\d+)/m.exec(gatewayYaml)?.[1])
    expect(maxImages * 576).toBeLessThan(4096)
    const vllm = compose.services['vllm']?.command ?? []
    expect(vllm).toContain(`--limit-mm-per-prompt={"image":${maxImages}}`)
    expect(vllm).toContain('--max-model-len=4096')
  })

  it('runs the vllm-pool profile as two vLLM replicas on GPUs 0 and 1, configured like the single one', () => {
    const replicas = ['vllm-gpu0', 'vllm-gpu1'].map((name) => compose.services[name])
    expect(replicas.map((r) => r?.profiles)).toEqual([['vllm-pool'], ['vllm-pool']])
    expect(replicas.map((r) => r?.deploy?.resources?.reservations?.devices?.[0]?.device_ids)).toEqual([['0'], ['1']])
    for (const replica of replicas) expect(replica?.command).toEqual(compose.services['vllm']?.command)
  })

  it('gives llama.cpp its vision projector and the same context', () => {
    const llamacpp = compose.services['llamacpp']?.command ?? []
    expect(llamacpp.some((arg) => arg.startsWith('--mmproj'))).toBe(true)
    expect(llamacpp[llamacpp.indexOf('--ctx-size') + 1]).toBe('4096')
  })
})
