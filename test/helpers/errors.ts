import { expect } from 'vitest'

export type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } }

/**
 * The OpenAI error body of a response. With `status` and `code` it also checks both (compared
 * together, so a failure shows the two at once); the raw text is kept for tests that look for
 * what must never appear in it.
 */
export async function errorOf(res: Response, status?: number, code?: string): Promise<ErrorBody['error'] & { raw: string }> {
  const raw = await res.text()
  const { error } = JSON.parse(raw) as ErrorBody
  if (status !== undefined || code !== undefined) {
    expect({ status: res.status, code: error.code }).toEqual({ status: status ?? res.status, code: code ?? error.code })
  }
  return { ...error, raw }
}
