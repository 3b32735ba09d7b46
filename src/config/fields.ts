import { z } from 'zod'

/** Strings from `${VAR}` interpolation arrive as text: accept "true"/"false" as well as real booleans. */
export const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
export const count = (min: number) => z.coerce.number().int().min(min)
export const millis = count(1)
/** A name that may become a metric label value: short, and from a small alphabet. */
export const label = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'use 1-64 letters, digits, "_", ".", ":" or "-"')
export const httpUrl = z.url({ protocol: /^https?$/ })
/** A fraction, e.g. 0.2 for 20 %. */
export const fraction = z.coerce.number().min(0).max(1)
