/** Render a zod-style path as the dotted/indexed form OpenAI uses in `param`: messages[0].content[1].image_url.url */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? String(segment) : `.${String(segment)}`
  }
  return out
}
