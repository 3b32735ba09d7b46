import type { z } from 'zod'
import { gatewayError, type GatewayError } from '../errors/gateway-error.js'
import { formatPath } from '../lib/json-path.js'

type Issue = z.core.$ZodIssue

/**
 * One clear OpenAI-style error from a failed parse: the first problem, named by its path
 * (`messages[0].content[1].image_url.url`) and, where there is one, the limit it broke.
 */
export function describeIssues(issues: readonly Issue[]): GatewayError {
  const issue = issues[0]
  if (!issue) return gatewayError('invalid_request')
  const deepest = unwrapUnion(issue)
  const param = formatPath(deepest.path)
  const where = param ? `'${param}'` : 'the request body'
  if (deepest.code === 'invalid_type' && deepest.input === undefined) {
    return gatewayError('missing_required_parameter', { param, message: `Missing required parameter: ${where}.` })
  }
  return gatewayError('invalid_value', { param, message: `Invalid value for ${where}: ${explain(deepest)}.` })
}

/**
 * A union reports one issue list per branch. The branch that got furthest into the input (longest
 * path) is the one the client meant: `content: [{type: "image_url", image_url: {url: 5}}]` should
 * blame `.image_url.url`, not say "expected string" about the whole array.
 */
function unwrapUnion(issue: Issue): Issue {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue
  let best: Issue | undefined
  for (const branch of issue.errors) {
    const first = branch[0]
    if (!first) continue
    const candidate = unwrapUnion({ ...first, path: [...issue.path, ...first.path] })
    if (!best || progress(candidate) > progress(best)) best = candidate
  }
  return best ?? issue
}

/** Deeper is further; at equal depth, a branch whose type matched beat one that did not. */
const progress = (issue: Issue): number => issue.path.length * 2 + (issue.code === 'invalid_type' ? 0 : 1)

function explain(issue: Issue): string {
  switch (issue.code) {
    case 'too_big':
      return `${subject(issue.origin)} must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${unit(issue.origin)}`
    case 'too_small':
      return `${subject(issue.origin)} must be ${issue.inclusive === false ? 'greater than' : 'at least'} ${String(issue.minimum)}${unit(issue.origin)}`
    case 'invalid_type':
      return `expected ${issue.expected === 'int' ? 'integer' : issue.expected}, got ${describeInput(issue.input)}`
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
    case 'invalid_union':
      // Discriminated unions land here when the discriminator is unknown.
      return issue.message.replace(/^Invalid input/, 'unrecognized value')
    default:
      return issue.message
  }
}

const subject = (origin: string): string =>
  origin === 'array' ? 'the list' : origin === 'string' ? 'the text' : origin === 'set' ? 'the set' : 'the value'
const unit = (origin: string): string => (origin === 'array' ? ' item(s)' : origin === 'string' ? ' character(s)' : '')

function describeInput(input: unknown): string {
  if (input === null) return 'null'
  if (Array.isArray(input)) return 'array'
  if (Number.isInteger(input)) return 'integer'
  return typeof input
}
