/** A plain JSON object (not null, not an array): the shape checked before reading untrusted fields. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
