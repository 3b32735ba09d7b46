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
