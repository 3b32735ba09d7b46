/** `make` runs on the first call only; every call returns what that first one made (a rejected promise too). */
export function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined
  return () => (made ??= { value: make() }).value
}
