/**
 * Codes for a network exchange that ran out of time (undici's own, and the OS's ETIMEDOUT), with
 * the stage each names. One list for every outbound client: backends and image downloads.
 */
const TIMEOUT_STAGES: Readonly<Record<string, string>> = {
  UND_ERR_CONNECT_TIMEOUT: 'connecting',
  UND_ERR_HEADERS_TIMEOUT: 'waiting for the response to start',
  UND_ERR_BODY_TIMEOUT: 'waiting for more of the response',
  ETIMEDOUT: 'timed out',
}

/** An error's stable `code`: its own, or its cause's (`fetch` wraps undici's errors; `request()` throws them bare). */
export function errorCode(err: unknown): string | undefined {
  return ownCode(err) ?? ownCode((err as { cause?: unknown } | null)?.cause)
}

/** The stage that timed out, or undefined when the error is not a timeout. */
export function timeoutStage(err: unknown): string | undefined {
  const code = errorCode(err)
  return code === undefined ? undefined : TIMEOUT_STAGES[code]
}

function ownCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}
