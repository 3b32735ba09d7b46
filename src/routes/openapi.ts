import { Hono } from 'hono'
import { openApiDocument } from './openapi/document.js'

/**
 * `GET /openapi.json`, without a key: it describes the API, names no key, team or model of this
 * gateway, and tools (code generators, API explorers) fetch it before they have a key.
 */
export const openApi = () => {
  const document = openApiDocument()
  return new Hono().get('/openapi.json', (c) => c.json(document))
}
