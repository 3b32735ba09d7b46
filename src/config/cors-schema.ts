import { z } from 'zod'

/** `scheme://host[:port]` exactly as a browser sends it in `Origin`, or `*` for any origin. */
const origin = z
  .string()
  .refine((value) => value === '*' || originOf(value) === value, 'use an origin: scheme://host[:port], no path or trailing slash')

function originOf(value: string): string | undefined {
  try {
    return new URL(value).origin
  } catch {
    return undefined
  }
}

/**
 * Browsers calling the gateway from web pages on other origins. None by default: without an
 * allowed origin a browser page elsewhere cannot read any answer (other clients are unaffected).
 */
export const CorsSchema = z.strictObject({
  allowOrigins: z.array(origin).default([]),
  /** Request headers a preflight may ask for; `*` (the default) allows whichever it asks for, Authorization included. */
  allowHeaders: z.array(z.string().regex(/^[A-Za-z0-9-]+$|^\*$/, 'use a header name or *')).default(['*']),
  /** How long a browser may reuse a preflight's answer. */
  maxAgeSeconds: z.coerce.number().int().min(0).default(600),
})

export type CorsConfig = z.output<typeof CorsSchema>
