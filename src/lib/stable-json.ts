/**
 * JSON with object keys sorted at every depth and no insignificant whitespace: equal values give
 * equal strings whatever order the client wrote its keys in. `undefined` properties are dropped,
 * as JSON.stringify does. Built by appending to one string: it runs on every cacheable request.
 */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object')
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- typed string, but undefined for undefined, functions and symbols
    return JSON.stringify(value) ?? 'null' // undefined, a function or a symbol stringify to nothing
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      out += `${i > 0 ? ',' : ''}${item === undefined ? 'null' : stableJson(item)}`
    }
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  // The default sort compares UTF-16 code units, as `<` does: the order earlier keys were made with.
  const keys = Object.keys(record).sort()
  let out = '{'
  for (const key of keys) {
    const item = record[key]
    if (item === undefined) continue
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${stableJson(item)}`
  }
  return `${out}}`
}
