// Peer gateways, measured beside ours in the same run. Portkey's open-source gateway is the one
// that runs on these machines: Node and hono like ours, published on npm. LiteLLM needs PyPI, and
// Kong and Envoy need their own binaries or Docker; none of those is reachable here.
//
// The peer is not a dependency of ours: it is installed on first use into bench/.peers/ (not
// committed), pinned to the version the performance issue measured.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { benchDir, freePort, stop, track, untilReady } from './processes.mjs'

export const PORTKEY = { name: 'Portkey', version: '1.15.2', pkg: '@portkey-ai/gateway' }

const peersDir = join(benchDir, '.peers')
const portkeyDir = join(peersDir, 'node_modules', PORTKEY.pkg)

/** Installs the pinned Portkey gateway unless it is there already; throws with npm's output if it cannot. */
export function installPortkey() {
  const manifest = join(portkeyDir, 'package.json')
  if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === PORTKEY.version) return
  const npm = spawnSync(
    'npm',
    ['install', '--prefix', peersDir, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `${PORTKEY.pkg}@${PORTKEY.version}`],
    { encoding: 'utf8' },
  )
  if (npm.status !== 0) throw new Error(`could not install ${PORTKEY.pkg}@${PORTKEY.version}: ${npm.stderr.trim().split('\n').at(-1)}`)
}

/**
 * Starts Portkey's Node server in production mode (no UI, no console spinner) in front of the
 * backend. It routes by headers: `headers` are what every request to it must carry besides ours.
 */
export async function startPortkey(upstreamPort) {
  installPortkey()
  const port = await freePort()
  const child = track(
    spawn(process.execPath, [join(portkeyDir, 'build', 'start-server.js'), `--port=${port}`, '--headless'], {
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', 'ignore'],
    }),
    'portkey',
  )
  await untilReady(child, 'portkey', `http://127.0.0.1:${port}/`)
  const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1` }
  return { child, pid: child.pid, port, headers, stop: () => stop(child) }
}
