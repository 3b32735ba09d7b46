/**
 * `${VAR}` and `${VAR:-default}` in string values, resolved against the env passed in.
 * Done on the parsed YAML tree, not the file text, so an env value can never inject YAML structure.
 */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

export type InterpolationProblem = { path: string; message: string }

export function interpolate(
  tree: unknown,
  env: Readonly<Record<string, string | undefined>>,
  problems: InterpolationProblem[] = [],
  path = '',
): unknown {
  if (typeof tree === 'string') {
    const malformed = malformedReference(tree)
    if (malformed !== undefined) {
      // Left as text, `\${GATEWAY_API_KEY` (a brace missing) would become a key anyone could guess.
      problems.push({
        path: path || '(root)',
        message: `malformed \${...} at character ${malformed + 1}: "${tree.slice(malformed, malformed + 40)}"`,
      })
      return ''
    }
    return tree.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
      const value = env[name]
      if (value !== undefined && value !== '') return value
      if (fallback !== undefined) return fallback
      problems.push({ path: path || '(root)', message: `environment variable ${name} is not set` })
      return ''
    })
  }
  if (Array.isArray(tree)) return tree.map((item, i) => interpolate(item, env, problems, `${path}[${i}]`))
  if (tree !== null && typeof tree === 'object') {
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, interpolate(v, env, problems, path ? `${path}.${k}` : k)]))
  }
  return tree
}

/** Where a `${` starts something that is not a whole reference (`${NAME}` or `${NAME:-default}`), if anywhere. */
function malformedReference(text: string): number | undefined {
  const whole = new RegExp(REFERENCE.source, 'y')
  for (let at = text.indexOf('${'); at >= 0; at = text.indexOf('${', at + 2)) {
    whole.lastIndex = at
    if (!whole.test(text)) return at
  }
  return undefined
}
