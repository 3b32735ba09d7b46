import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import type { Logger } from 'pino'
import { createGateway, createMetricsApp, servesMetricsOnMainPort } from '../app.js'
import { createUpstreamClient } from '../backends/client.js'
import { startHealthProbes } from '../backends/health-probes.js'
import { createBackendPools } from '../backends/pools.js'
import { startQueueProbes } from '../backends/queue-probes.js'
import { ConfigError, loadConfigFile, type Env, type LoadedConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { systemClock, type Deps } from '../deps.js'
import { createImageFetcher } from '../image-fetch/image-fetcher.js'
import { createMetrics } from '../metrics/metrics.js'
import type { ReloadOutcome } from '../routes/admin.js'
import { withDirectBodies } from '../lib/direct-body.js'
import { createStore } from '../store/create-store.js'
import type { Lifecycle } from './lifecycle.js'
import { limitConnections, serverOptions } from './limits.js'
import { drainServer } from './shutdown.js'

/** One config's running parts: its app, its backend pools (connections, balancing, health) and image fetcher, its probes. */
type Version = Readonly<{
  config: Config
  deps: Deps
  fetch: (req: Request, env: unknown) => Response | Promise<Response>
  idle(): Promise<void>
  stopProbes(): void
}>

/**
 * The gateway as a process: serves the config it was started with, swaps in a new one on SIGHUP
 * or POST /admin/reload (validated first; in-flight requests finish on the old one, whose pools are
 * closed once it is idle), and on SIGTERM drains in the order load balancers expect. What outlives
 * a reload: the listener, the store (budget counters, cache), the metrics registry.
 */
export async function runGateway(options: { configPath: string; env: Env; loaded: LoadedConfig; log: Logger }): Promise<void> {
  const { configPath, env, log } = options
  const first = options.loaded.config
  const usesRedis = first.redis.url !== '' || first.redis.clusterNodes.length > 0
  let pingRedis = async () => false
  const metrics = createMetrics(usesRedis ? { redisPing: () => pingRedis() } : {})
  const store = createStore(first, log, (step, operation) => metrics.storeRoundTrips.inc({ step, operation }))
  pingRedis = () => store.ping()
  const lifecycle: Lifecycle = { draining: false }

  let current = build(first)
  function build(config: Config): Version {
    const deps: Deps = {
      config,
      store,
      clock: systemClock,
      upstreamClient: createUpstreamClient(config),
      imageFetcher: createImageFetcher(config.images),
      metrics,
      log,
      pools: createBackendPools(config, { clock: systemClock, metrics }),
    }
    const gateway = createGateway(deps, lifecycle, { reload })
    const stopHealthProbes = startHealthProbes(config.backends, deps.upstreamClient, deps.pools.health)
    const stopQueueProbes = startQueueProbes(config.backends, deps.upstreamClient, deps.pools)
    const stopProbes = () => {
      stopHealthProbes()
      stopQueueProbes()
    }
    return { config, deps, fetch: withDirectBodies(gateway.app.fetch), idle: () => gateway.idle(), stopProbes }
  }

  async function reload(): Promise<ReloadOutcome> {
    let loaded: LoadedConfig
    try {
      loaded = loadConfigFile(env, configPath)
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`) : [(err as Error).message]
      metrics.configReloads.inc({ result: 'invalid' })
      log.error({ configPath, problems }, 'config reload refused: the running config is unchanged')
      return { ok: false, problems }
    }
    const warnings = [...loaded.warnings, ...needsRestart(current.config, loaded.config)]
    const previous = current
    current = build(loaded.config)
    previous.stopProbes()
    metrics.configReloads.inc({ result: 'applied' })
    log.info({ configPath, warnings, models: loaded.config.models.map((m) => m.id), keys: loaded.config.keys.length }, 'config reloaded')
    // In-flight requests finish on the old version; its pools close once it is idle.
    void previous.idle().then(() => Promise.allSettled([previous.deps.upstreamClient.close(), previous.deps.imageFetcher.close()]))
    return { ok: true, warnings }
  }

  const { server: serverLimits } = first
  const server = serve(
    {
      fetch: (req, e) => current.fetch(req, e),
      hostname: serverLimits.host,
      port: serverLimits.port,
      serverOptions: serverOptions(serverLimits),
    },
    (info) =>
      log.info(
        { host: info.address, port: info.port, store: store.kind, models: first.models.map((m) => m.id) },
        'llava-gateway listening',
      ),
  ) as Server
  exitIfCannotListen(server, 'requests', serverLimits.host, serverLimits.port, log)
  limitConnections(server, serverLimits)
  const metricsServer = startMetricsServer(current.deps, log)

  process.on('SIGHUP', () => void reload())
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    const { drainDelayMs, shutdownGraceMs } = current.config.server
    log.info({ signal, drainDelayMs, graceMs: shutdownGraceMs }, 'shutting down: not ready, draining')
    await drainServer(server, lifecycle, { delayMs: drainDelayMs, graceMs: shutdownGraceMs }, log)
    metricsServer?.close()
    current.stopProbes()
    await Promise.allSettled([current.deps.upstreamClient.close(), current.deps.imageFetcher.close(), store.close()])
    log.info('stopped')
    log.flush()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

/** Settings a reload cannot change: the listener and the store were made from the first config. */
function needsRestart(running: Config, next: Config): string[] {
  const changed = (what: string, a: unknown, b: unknown) =>
    JSON.stringify(a) === JSON.stringify(b) ? [] : [`${what} changed: it takes effect on restart`]
  return [
    ...changed('server.host/server.port', [running.server.host, running.server.port], [next.server.host, next.server.port]),
    ...changed('redis', running.redis, next.redis),
    ...changed('metrics.port', running.metrics.port, next.metrics.port),
  ]
}

/**
 * A listener that cannot bind (the port taken, an address this host does not have) ends the
 * process with one log line that says so and exit code 1, where Node would throw an unhandled
 * 'error' event with a stack. An error once listening is not this handler's: it is thrown on.
 */
function exitIfCannotListen(server: Server, what: string, host: string, port: number, log: Logger): void {
  server.once('error', (err: NodeJS.ErrnoException) => {
    if (server.listening) throw err
    const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.message
    log.fatal({ host, port, code: err.code }, `cannot listen for ${what} on ${host}:${port}: ${why}`)
    log.flush()
    process.exit(1)
  })
}

/** With `metrics.port` set, Prometheus scrapes a listener of its own, apart from client traffic. */
function startMetricsServer(deps: Deps, log: Logger): Server | undefined {
  const { metrics } = deps.config
  if (!metrics.enabled || servesMetricsOnMainPort(deps)) return undefined
  const { host } = deps.config.server
  const server = serve({ fetch: createMetricsApp(deps).fetch, hostname: host, port: metrics.port }, (info) =>
    log.info({ port: info.port }, 'metrics listening'),
  ) as Server
  exitIfCannotListen(server, 'metrics', host, metrics.port, log)
  return server
}
