import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import { pino } from 'pino'
import { createApp, createMetricsApp, servesMetricsOnMainPort } from './app.js'
import { ConfigError, loadConfigFile } from './config/load.js'
import type { Config } from './config/schema.js'
import { systemClock, type Deps } from './deps.js'
import { createLogger } from './lib/logger.js'
import { createMetrics } from './metrics/metrics.js'
import type { Lifecycle } from './server/lifecycle.js'
import { limitConnections, serverOptions } from './server/limits.js'
import { drainServer } from './server/shutdown.js'
import { MemoryStore } from './store/memory-store.js'
import { evictionWarning } from './store/eviction-check.js'
import { RedisStore } from './store/redis-store.js'
import { SplitStore } from './store/split-store.js'
import type { Store } from './store/store.js'
import { createUpstreamClient } from './backends/client.js'
import { createBackendHealth } from './backends/health.js'
import { createImageFetcher } from './image-fetch/image-fetcher.js'

/** The only module that reads the environment or the command line. */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const configPath = argValue(argv, '--config') ?? env['GATEWAY_CONFIG'] ?? 'config/gateway.yaml'
  // Asynchronous, buffered writes: a synchronous write per request line costs about a fifth of the
  // gateway's throughput. Flushed at shutdown; a crash can lose the lines not yet written.
  const log = createLogger(env['LOG_LEVEL'] ?? 'info', pino.destination({ sync: false }))
  let loaded
  try {
    loaded = loadConfigFile(env, configPath)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${configPath}: ${err.message}\n`)
    process.exit(1)
  }
  if (argv.includes('--check-config')) {
    for (const warning of loaded.warnings) process.stdout.write(`warning: ${warning}\n`)
    process.stdout.write(`${configPath}: OK (${loaded.config.models.length} models, ${loaded.config.keys.length} keys enabled)\n`)
    return
  }
  for (const warning of loaded.warnings) log.warn(warning)
  const { config } = loaded

  const store = createStore(config, log)
  const deps: Deps = {
    config,
    store,
    clock: systemClock,
    upstreamClient: createUpstreamClient(config),
    imageFetcher: createImageFetcher(config.images),
    metrics: createMetrics({ store }),
    log,
    backendHealth: createBackendHealth(config.backends, systemClock),
  }
  const lifecycle: Lifecycle = { draining: false }
  const app = createApp(deps, lifecycle)
  const server = serve(
    { fetch: app.fetch, hostname: config.server.host, port: config.server.port, serverOptions: serverOptions(config.server) },
    (info) => {
      log.info(
        { host: info.address, port: info.port, store: store.kind, models: config.models.map((m) => m.id) },
        'llava-gateway listening',
      )
    },
  ) as Server

  limitConnections(server, config.server)
  const metricsServer = startMetricsServer(deps, log)

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal, graceMs: config.server.shutdownGraceMs }, 'shutting down')
    metricsServer?.close()
    await drainServer(server, lifecycle, config.server.shutdownGraceMs, log)
    await Promise.allSettled([deps.upstreamClient.close(), deps.imageFetcher.close(), store.close()])
    log.info('stopped')
    log.flush()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

/** With `metrics.port` set, Prometheus scrapes its own listener, apart from client traffic. */
function startMetricsServer(deps: Deps, log: ReturnType<typeof createLogger>): Server | undefined {
  const { metrics } = deps.config
  if (!metrics.enabled || servesMetricsOnMainPort(deps)) return undefined
  return serve({ fetch: createMetricsApp(deps).fetch, hostname: deps.config.server.host, port: metrics.port }, (info) =>
    log.info({ port: info.port }, 'metrics listening'),
  ) as Server
}

function createStore(config: Config, log: ReturnType<typeof createLogger>): Store {
  const { redis } = config
  if (!redis.url && redis.clusterNodes.length === 0) return new MemoryStore(config.cache.memoryMaxBytes, systemClock)
  const connect = (url: string, clusterNodes: readonly string[]) =>
    new RedisStore({ url, clusterNodes, commandTimeoutMs: redis.commandTimeoutMs, connectTimeoutMs: redis.connectTimeoutMs, log })
  const budgets = connect(redis.url, redis.clusterNodes)
  void evictionWarning(budgets.client, redis.connectTimeoutMs).then((warning) => warning && log.warn(warning))
  return redis.cacheUrl ? new SplitStore(budgets, connect(redis.cacheUrl, [])) : budgets
}

function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  process.stderr.write(`llava-gateway failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
