/** Says whether a response's usage is the backend's own report or the gateway's count. */
export const USAGE_SOURCE_HEADER = 'x-gateway-usage-source'
