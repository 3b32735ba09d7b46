import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors/gateway-error.js'
import { closeTestApps } from '../helpers/close-after-file.js'
import { buildTestApp, testConfig, type TestApp } from '../helpers/test-app.js'

// Apps built by buildTestApp have their pools and store closed after the test file (a setup file
// calls closeTestApps); here it is called by hand to see that it does close them. Only loopback's
// discard port is named, where nothing listens: an open pool gets a refusal, a closed one never dials.

const NOWHERE = 'http://127.0.0.1:9/v1'
const appNowhere = () => buildTestApp({ ...testConfig(NOWHERE), images: { fetch: { allowHosts: ['images.test'], allowedPorts: [9] } } })

const sendFailure = async ({ deps }: TestApp): Promise<string> => {
  const err = await deps.upstreamClient.send('main', { path: '/chat/completions', method: 'POST', body: '{}' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(GatewayError)
  return (err as GatewayError).message
}
const fetchImage = ({ deps }: TestApp) =>
  deps.imageFetcher.fetch('http://images.test:9/x.png', { signal: new AbortController().signal, reserveBytes: async () => () => {} })

describe('closing test apps', () => {
  it('closes the backend pool and the image pool of every app built, and empties its store', async () => {
    const built = appNowhere()
    expect(await sendFailure(built)).toContain('ECONNREFUSED') // open: it dials
    await expect(fetchImage(built)).rejects.toThrow()
    expect(built.network.dials).toHaveLength(1)
    await built.deps.store.set('k', 'v', 60_000)

    await closeTestApps()
    expect(await sendFailure(built)).toContain('UND_ERR_DESTROYED')
    await expect(fetchImage(built)).rejects.toThrow()
    expect(built.network.dials).toHaveLength(1) // the closed image pool dialled nothing more
    expect(await built.deps.store.get('k')).toBeNull()
  })

  it('lets a test close an app, or one of its parts, itself first', async () => {
    const one = appNowhere()
    const other = appNowhere()
    await one.close()
    await other.deps.upstreamClient.close()
    await expect(closeTestApps()).resolves.toBeUndefined()
    expect(await sendFailure(one)).toContain('UND_ERR_DESTROYED')
    expect(await sendFailure(other)).toContain('UND_ERR_DESTROYED')
  })
})
