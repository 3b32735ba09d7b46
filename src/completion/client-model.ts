// A completion, or a chunk of one, names the backend's model (`llava-hf/llava-1.5-7b-hf`); the
// client must see the id it asked for (`local/llava-1.5-7b`). It is done on the JSON's text:
// parsing is already paid for (usage and content are read from it), but building a copy of the
// object and serialising it again cost about 1.7 µs a stream chunk (a tenth of a stream's CPU), and
// a whole answer's serialisation grows with its length.

/**
 * `data` (a completion's or a chunk's JSON text, whose top-level `model` is `backendModel`) with that model replaced by
 * `model`. Everything else stays as the backend wrote it. The text is edited only where that is
 * certain to be the top-level field: the text has no `\u` escape, and `"model"` occurs once in it,
 * right before the backend's model spelled as JSON.stringify spells it. A quote inside a JSON string
 * is escaped, so an unescaped `"model"` in the text is a key or a whole value; without `\u` escapes
 * a key can only be spelled as it reads, so the top-level key is the one `"model"` there is. Any
 * other text (spaces, escapes, a `model` key or value elsewhere) is serialised again.
 */
export function withClientModel(data: string, parsed: Record<string, unknown>, backendModel: string, model: string): string {
  const field = `"model":${JSON.stringify(backendModel)}`
  const at = data.indexOf(field)
  if (at !== -1 && data.indexOf('"model"') === at && data.lastIndexOf('"model"') === at && !data.includes('\\u')) {
    return `${data.slice(0, at)}"model":${JSON.stringify(model)}${data.slice(at + field.length)}`
  }
  return JSON.stringify({ ...parsed, model })
}

/** `data` with `model` as its top-level model: as it is when it names that model already, and with it added when it names none. */
export function withModel(data: string, parsed: Record<string, unknown>, model: string): string {
  const backendModel = parsed['model']
  if (backendModel === model) return data
  return typeof backendModel === 'string' ? withClientModel(data, parsed, backendModel, model) : JSON.stringify({ ...parsed, model })
}
